// Package quote makes a name that a command, a config file or the command line
// chose safe to print on a terminal: the one door every printer of such a name
// or path goes through (`sandbox diff`, `commit`, `ls`, errors).
//
// Runs anywhere; pure.
package quote

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name returns s unchanged when every character in it prints as itself, and
// otherwise a double-quoted form with Go's escapes (which read like C's), as
// git's core.quotePath does. Quoted are: C0 controls and DEL (ESC moves the
// cursor and erases lines: a listing could hide one of its own lines), C1
// controls (0x80-0x9f: some terminals take 0x9b as ESC[), invalid UTF-8, and
// every other character that is not graphic, which covers the bidi and
// format characters (U+202A-U+202E, U+2066-U+2069, U+200E/F reorder a line
// so it reads otherwise than it is), the line and paragraph separators and
// zero-width ones. A name holding '"' or '\' is quoted too, so that an
// unquoted name never looks like an escape and a quoted one is unambiguous.
func Name(s string) string {
	if !needsQuote(s) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// Short is Name for error messages: a name longer than max bytes keeps its
// beginning and end with "..." between them, so an error line stays one
// readable line even for a path deeper than PATH_MAX.
func Short(s string, max int) string {
	const keep = 3 // "..." replaces the middle
	if max < 2*keep+keep || len(s) <= max {
		return Name(s)
	}
	head := validPrefix(s[:max/3])
	tail := validSuffix(s[len(s)-(max-len(head)-keep):])
	return Name(head + "..." + tail)
}

// Line is Name for a line of text that holds names (an error message from
// inside the sandbox): every character Name would quote a name for is
// escaped in place (\x1b, \xff, \u202e), newlines too, so the text stays one
// line and prints as itself; quotes and backslashes are left as they are.
func Line(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !shows(r, n) && (r < utf8.RuneSelf || n == 1):
			b.WriteString(`\x`)
			if s[i] < 0x10 {
				b.WriteByte('0')
			}
			b.WriteString(strconv.FormatUint(uint64(s[i]), 16))
		case !shows(r, n):
			q := strconv.QuoteRuneToASCII(r) // '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// shows says whether the rune r, n bytes of a string, prints as itself: not
// a C0 control or DEL, not a byte of invalid UTF-8, graphic and not a format
// character (bidi and zero-width ones are).
func shows(r rune, n int) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7f
	}
	return !(r == utf8.RuneError && n == 1) && unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r)
}

func needsQuote(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !shows(r, n) || r == '"' || r == '\\' {
			return true
		}
		i += n
	}
	return false
}

// validPrefix and validSuffix drop a rune cut in half at the cut, so that
// shortening never invents an invalid byte the name did not have.
func validPrefix(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

func validSuffix(s string) string {
	for i := 0; i < len(s) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(s[i]) {
			return s[i:]
		}
	}
	return s
}
