// Package jsonw writes JSON by hand on hot paths (request bodies, outcomes)
// where reflection-based encoding/json costs several times the time and
// allocations. Its output is held to encoding/json's by a fuzz test.
package jsonw

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain marks the bytes AppendString copies as they are: printable ASCII but
// for '"', '\\', '<', '>' and '&'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe escaping, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// asciiLen is the length of each ASCII byte inside a JSON string, taken from
// AppendString itself so that Len cannot disagree with it.
var asciiLen = func() (t [utf8.RuneSelf]uint8) {
	var buf [8]byte
	for c := range t {
		t[c] = uint8(len(AppendString(buf[:0], string(rune(c)))) - 2)
	}
	return t
}()

// Len returns len(AppendString(nil, s)) without writing anything.
func Len(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			n += int(asciiLen[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += len(`\ufffd`) // the same length as \u2028
		} else {
			n += size
		}
		i += size
	}
	return n
}
