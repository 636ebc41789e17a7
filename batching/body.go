package batching

import "unicode/utf8"

// bodyOverhead is the estimated size of a call's request body without its
// strings: keys, punctuation, appId/appKey/appSecret and the like.
const bodyOverhead = 256

// asciiCost is the size of each ASCII byte once escaped by encoding/json
// (with HTML escaping, as json.Marshal does).
var asciiCost = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			t[c] = 2
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			t[c] = 6 // \u00XX
		default:
			t[c] = 1
		}
	}
	return t
}()

// escapedLen returns the length of s as a JSON string encoded by
// encoding/json's Marshal, quotes included.
func escapedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += int(asciiCost[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// recipientCost is what one recipient adds to a call's body: its JSON form
// and a comma. A p2t topic id goes out as a JSON number.
func recipientCost(p2t bool, r string) int {
	if p2t && isDigits(r) {
		return len(r) + 1
	}
	return escapedLen(r) + 1
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
