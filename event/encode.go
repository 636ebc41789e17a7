package event

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the event in the input format with every default filled
// in: id, kind, fromAccount, fromResource, toAccounts or topicIds (topic ids
// as decimal strings), msg, msgType, bizType, and isStore when set. Decoding
// it gives the same Event.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, e.Kind)
	dst = append(dst, `,"fromAccount":`...)
	dst = appendString(dst, e.FromAccount)
	dst = append(dst, `,"fromResource":`...)
	dst = appendString(dst, e.FromResource)
	if e.Kind == P2T {
		dst = append(dst, `,"topicIds":[`...)
		for i, id := range e.TopicIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, id, 10)
			dst = append(dst, '"')
		}
	} else {
		dst = append(dst, `,"toAccounts":[`...)
		for i, a := range e.ToAccounts {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, a)
		}
	}
	dst = append(dst, `],"msg":`...)
	dst = appendString(dst, e.Msg)
	dst = append(dst, `,"msgType":`...)
	dst = appendString(dst, e.MsgType)
	dst = append(dst, `,"bizType":`...)
	dst = appendString(dst, e.BizType)
	if e.IsStore != nil {
		dst = append(dst, `,"isStore":`...)
		dst = strconv.AppendBool(dst, *e.IsStore)
	}
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// unmarshalLimits accept any event the bridge could have normalized.
var unmarshalLimits = Limits{MaxMsgBytes: 1 << 40, MaxIDBytes: 1 << 40, MaxRecipients: 1 << 40}

// UnmarshalJSON implements json.Unmarshaler with Decode and no size limits
// (for events inside outcomes). Absent defaults stay empty.
func (e *Event) UnmarshalJSON(b []byte) error {
	var ev Event
	if reason, id := decode(&ev, b, unmarshalLimits); reason != "" {
		return &RejectError{ID: id, Reason: reason}
	}
	*e = ev
	return nil
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes appendString copies as they are: printable ASCII but
// for '"', '\\', '<', '>' and '&'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe escaping, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped).
func appendString(dst []byte, s string) []byte {
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
