package event

import (
	"strconv"

	"github.com/mimc-bridge/mimc-bridge/internal/jsonw"
)

// AppendJSON appends the event in the input format with every default filled
// in: id, kind, fromAccount, fromResource, toAccounts or topicIds (topic ids
// as decimal strings), msg, msgType, bizType, and isStore and ttl when set.
// Decoding it gives the same Event.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonw.AppendString(dst, e.ID)
	dst = append(dst, `,"kind":`...)
	dst = jsonw.AppendString(dst, string(e.Kind))
	dst = append(dst, `,"fromAccount":`...)
	dst = jsonw.AppendString(dst, e.FromAccount)
	dst = append(dst, `,"fromResource":`...)
	dst = jsonw.AppendString(dst, e.FromResource)
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
			dst = jsonw.AppendString(dst, a)
		}
	}
	dst = append(dst, `],"msg":`...)
	dst = jsonw.AppendString(dst, e.Msg)
	dst = append(dst, `,"msgType":`...)
	dst = jsonw.AppendString(dst, e.MsgType)
	dst = append(dst, `,"bizType":`...)
	dst = jsonw.AppendString(dst, e.BizType)
	if v, set := e.IsStore.Bool(); set {
		dst = append(dst, `,"isStore":`...)
		dst = strconv.AppendBool(dst, v)
	}
	if e.TTL > 0 {
		dst = append(dst, `,"ttl":`...)
		dst = strconv.AppendInt(dst, int64(e.TTL), 10)
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
