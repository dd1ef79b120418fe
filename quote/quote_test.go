package quote

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestNameKeepsPlain(t *testing.T) {
	for _, s := range []string{"/usr/bin/ls", "a b", "héllo/日本語", "emoji-😀", "x.y-z_1", "'single'"} {
		if got := Name(s); got != s {
			t.Errorf("Name(%q) = %q, want it unchanged", s, got)
		}
	}
}

// Every class the package doc names comes out escaped, with no raw byte of
// it left: what reaches the terminal is printable ASCII or graphic runes.
func TestNameEscapes(t *testing.T) {
	cases := []struct {
		class, in, want string
	}{
		{"C0 ESC", ".hook\x1b[1A\x1b[2K", `".hook\x1b[1A\x1b[2K"`},
		{"C0 newline", "a\nD /etc/passwd", `"a\nD /etc/passwd"`},
		{"C0 carriage return", "a\rb", `"a\rb"`},
		{"C0 tab", "a\tb", `"a\tb"`},
		{"C0 NUL", "a\x00b", `"a\x00b"`},
		{"DEL", "a\x7fb", `"a\x7fb"`},
		{"C1 CSI", "a\u009b2Kb", `"a\u009b2Kb"`},
		{"C1 NEL", "a\u0085b", `"a\u0085b"`},
		{"invalid UTF-8", "a\xffb", `"a\xffb"`},
		{"raw C1 byte", "a\x9bb", `"a\x9bb"`},
		{"truncated rune", "a\xe6\x97", `"a\xe6\x97"`},
		{"bidi RLO", "gnp.\u202eexe", `"gnp.\u202eexe"`},
		{"bidi LRE", "a\u202ab", `"a\u202ab"`},
		{"bidi PDF", "a\u202cb", `"a\u202cb"`},
		{"bidi isolate LRI", "a\u2066b", `"a\u2066b"`},
		{"bidi isolate PDI", "a\u2069b", `"a\u2069b"`},
		{"LRM", "a\u200eb", `"a\u200eb"`},
		{"RLM", "a\u200fb", `"a\u200fb"`},
		{"zero-width space", "a\u200bb", `"a\u200bb"`},
		{"line separator", "a\u2028b", `"a\u2028b"`},
		{"BOM", "\ufeffa", `"\ufeffa"`},
		{"double quote", `a"b`, `"a\"b"`},
		{"backslash", `a\x1bb`, `"a\\x1bb"`},
	}
	for _, c := range cases {
		got := Name(c.in)
		if got != c.want {
			t.Errorf("%s: Name(%q) = %s, want %s", c.class, c.in, got, c.want)
		}
		if !safe(got) {
			t.Errorf("%s: Name(%q) = %q still holds a character a terminal acts on", c.class, c.in, got)
		}
	}
}

// Every bidi and format character of the ranges the issue names.
func TestNameEscapesBidiRanges(t *testing.T) {
	var rs []rune
	for r := rune(0x202a); r <= 0x202e; r++ {
		rs = append(rs, r)
	}
	for r := rune(0x2066); r <= 0x2069; r++ {
		rs = append(rs, r)
	}
	rs = append(rs, 0x200e, 0x200f, 0x061c)
	for _, r := range rs {
		if got := Name("x" + string(r)); strings.ContainsRune(got, r) {
			t.Errorf("U+%04X printed raw: %q", r, got)
		}
	}
	for b := 0; b < 0x20; b++ {
		if got := Name("x" + string(rune(b))); strings.IndexByte(got, byte(b)) >= 0 {
			t.Errorf("C0 0x%02x printed raw", b)
		}
	}
	for r := rune(0x80); r <= 0x9f; r++ {
		if got := Name("x" + string(r)); strings.ContainsRune(got, r) {
			t.Errorf("C1 U+%04X printed raw", r)
		}
	}
}

func TestShort(t *testing.T) {
	long := "/" + strings.Repeat("d/", 3000) + "end\x1b"
	got := Short(long, 200)
	if len(got) > 220 {
		t.Errorf("Short gave %d bytes, want about 200", len(got))
	}
	if !strings.HasPrefix(got, `"/d/d/`) || !strings.HasSuffix(got, `/end\x1b"`) || !strings.Contains(got, "...") {
		t.Errorf("Short = %s: want the start, ..., and the escaped end", got)
	}
	if Short("/short", 200) != "/short" {
		t.Errorf("Short changed a short name")
	}
	// A cut in the middle of a rune drops the half rune.
	s := strings.Repeat("日", 200)
	if got := Short(s, 100); !utf8.ValidString(got) || strings.HasPrefix(got, `"`) {
		t.Errorf("Short(%d runes of 日) = %q: cut a rune in half", 200, got)
	}
}

func FuzzName(f *testing.F) {
	f.Add(".hook\x1b[1A")
	f.Add("a\u202eb\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := Name(s)
		if !safe(got) {
			t.Fatalf("Name(%q) = %q holds a character a terminal acts on", s, got)
		}
		if got != s && (!strings.HasPrefix(got, `"`) || !strings.HasSuffix(got, `"`)) {
			t.Fatalf("Name(%q) = %q: changed but not quoted", s, got)
		}
	})
}

// safe reports output made of graphic runes and spaces only.
func safe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && needsQuote(string(r)) && r != '"' && r != '\\' {
			return false
		}
	}
	return true
}

func TestLine(t *testing.T) {
	for in, want := range map[string]string{
		`mount "/a b": permission denied`: `mount "/a b": permission denied`,
		"x\x1b[2Ky":                       `x\x1b[2Ky`,
		"a\nb\r":                          `a\x0ab\x0d`,
		"bad-\xff-\x9b":                   `bad-\xff-\x9b`,
		"c1-\u009b":                       `c1-\u009b`,
		"bidi-\u202etxt":                  `bidi-\u202etxt`,
		"café ünï":                        "café ünï",
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

// plainLine reports that s has no character Line escapes.
func plainLine(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r < 0x20 || r == 0x7f ||
			r >= utf8.RuneSelf && (!unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r)) {
			return false
		}
		i += n
	}
	return true
}

func FuzzLine(f *testing.F) {
	f.Add("x\x1b[2K\xff\u202e\n")
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !plainLine(got) {
			t.Fatalf("Line(%q) = %q still holds a character to escape", s, got)
		}
		if plainLine(s) && got != s {
			t.Fatalf("Line(%q) = %q changed a plain line", s, got)
		}
	})
}
