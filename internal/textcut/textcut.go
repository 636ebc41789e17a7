// Package textcut shortens text for messages without splitting a UTF-8
// character.
package textcut

import "unicode/utf8"

// Prefix returns at most max bytes of s, cut at a character boundary.
func Prefix(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Ellipsis returns s, or its first max bytes followed by "…" when longer.
func Ellipsis(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return Prefix(s, max) + "…"
}
