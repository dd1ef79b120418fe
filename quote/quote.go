// Package quote makes a name that a command, a config file or the command line
// chose safe to print on a terminal: the one door every printer of such a name
// or path goes through (`sandbox diff`, `commit`, `ls`, errors).
//
// Runs anywhere; pure.
package quote

import (
	"strconv"
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

func needsQuote(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return true
		}
		if !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r) {
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
