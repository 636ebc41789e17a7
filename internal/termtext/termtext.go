// Package termtext makes text that came from an event safe to print on a
// terminal, and measures and pads it by the columns it takes there.
//
// Anyone who can produce an event chooses its id and its error texts: printed
// raw, an escape sequence in them could recolour the operator's terminal,
// set its title or move the cursor, and a newline could forge a table row.
// Every place that prints such text to a person goes through Escape (JSON
// output does not: it is exact JSON).
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Escape returns s with every control character, line or paragraph
// separator, invisible format character (bidirectional overrides, zero-width
// characters) and invalid UTF-8 byte written as a Go-style escape: \n, \t,
// \r, \x1b, \u202e, and \xff for an invalid byte. Other text, CJK and emoji
// included, is kept as it is. Text without anything to escape is returned
// without copying.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !needsEscape(r, size):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, size int) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	if r == utf8.RuneError && size <= 1 {
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs)
}

// Width returns the columns s takes on a terminal: two for an East Asian
// wide or fullwidth character, none for a combining mark, one otherwise.
// It is meant for text that went through Escape.
func Width(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			n++
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}

// PadRight returns s followed by spaces up to cols columns (s itself when it
// is as wide or wider).
func PadRight(s string, cols int) string {
	if w := Width(s); w < cols {
		return s + strings.Repeat(" ", cols-w)
	}
	return s
}

// PadLeft returns s preceded by spaces up to cols columns.
func PadLeft(s string, cols int) string {
	if w := Width(s); w < cols {
		return strings.Repeat(" ", cols-w) + s
	}
	return s
}
