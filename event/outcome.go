package event

import (
	"github.com/mimc-bridge/mimc-bridge/message"

	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mimc-bridge/mimc-bridge/internal/jsonw"
)

// Statuses of an outcome.
const (
	Delivered = "delivered" // every recipient has a packetId
	Partial   = "partial"   // some recipients delivered, others failed or expired
	Failed    = "failed"    // MIMC refused or retries ran out
	Expired   = "expired"   // its time to live ran out before it was sent: it never reached MIMC
	Rejected  = "rejected"  // invalid input, never sent
	Duplicate = "duplicate" // its id was already delivered within DEDUP_WINDOW: not pushed again
)

// Statuses lists every status in its documented order.
var Statuses = []string{Delivered, Partial, Failed, Expired, Rejected, Duplicate}

// Status is the status of an event whose recipients were delivered, failed
// or expired in these numbers: a recipient that reached MIMC and failed
// makes it failed rather than expired.
func Status(delivered, failed, expired int) string {
	switch {
	case failed == 0 && expired == 0:
		return Delivered
	case delivered > 0:
		return Partial
	case failed > 0:
		return Failed
	}
	return Expired
}

// MaxInputBytes bounds Outcome.Input.
const MaxInputBytes = 1024

// TimeLayout is the outcome's time format: RFC 3339 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Recipient is one recipient's result: a packetId when delivered, else code,
// message and/or error.
type Recipient struct {
	ToAccount string `json:"toAccount,omitempty"`
	TopicID   string `json:"topicId,omitempty"` // decimal string: topic ids pass 2^53
	PacketID  string `json:"packetId,omitempty"`
	Code      int    `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Outcome is the results record of one input record (key: ID).
type Outcome struct {
	ID          string       `json:"id"`
	Status      string       `json:"status"`
	Kind        message.Kind `json:"kind,omitempty"`
	Recipients  []Recipient  `json:"recipients,omitempty"`
	Attempts    int          `json:"attempts"`
	Source      Source       `json:"source"`
	DuplicateOf *Source      `json:"duplicateOf,omitempty"` // duplicate only: the source of the id's delivered outcome
	ReceivedAt  time.Time    `json:"receivedAt"`            // written as TimeLayout
	CompletedAt time.Time    `json:"completedAt"`           // written as TimeLayout
	Error       string       `json:"error,omitempty"`
	Event       *Event       `json:"event,omitempty"` // failed, partial, expired: the normalized event with the undelivered recipients
	Input       string       `json:"input,omitempty"` // rejected only: the start of the raw value
}

// NewRejected returns the outcome of a rejected record: its id, the reason,
// and at most MaxInputBytes of the raw value. (Rejected is the status.)
func NewRejected(src Source, value []byte, err *RejectError, receivedAt, now time.Time) Outcome {
	o := Outcome{ID: src.DefaultID(), Status: Rejected, Source: src, ReceivedAt: receivedAt, CompletedAt: now,
		Input: InputPrefix(value)}
	if err != nil {
		if err.ID != "" {
			o.ID = err.ID
		}
		o.Error = err.Reason
	}
	if o.Error == "" {
		o.Error = "rejected"
	}
	return o
}

// NewExpired returns the outcome of an event that expired at expiredAt
// before any of its recipients was sent: every recipient carries the error,
// and the event is kept so that it can be produced again.
func NewExpired(ev *Event, src Source, expiredAt, receivedAt, now time.Time) Outcome {
	reason := ExpiredError(expiredAt)
	o := Outcome{ID: ev.ID, Status: Expired, Kind: ev.Kind, Source: src, ReceivedAt: receivedAt, CompletedAt: now,
		Error: reason, Event: ev, Recipients: make([]Recipient, ev.Recipients.Len())}
	for i, a := range ev.ToAccounts {
		o.Recipients[i] = Recipient{ToAccount: a, Error: reason}
	}
	for i, id := range ev.TopicIDs {
		o.Recipients[i] = Recipient{TopicID: strconv.FormatInt(id, 10), Error: reason}
	}
	return o
}

// InputPrefix returns at most the first MaxInputBytes of value as a string,
// cut at a UTF-8 character boundary, invalid UTF-8 replaced by U+FFFD (as
// JSON would write it anyway).
func InputPrefix(value []byte) string {
	n := len(value)
	if n > MaxInputBytes {
		n = MaxInputBytes
		for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(value[n]); i++ {
			n--
		}
	}
	if !utf8.Valid(value[:n]) {
		return strings.ToValidUTF8(string(value[:n]), "\uFFFD")
	}
	return string(value[:n])
}

// AppendJSON appends the outcome's JSON, byte for byte what json.Marshal
// gives, without reflection.
func (o *Outcome) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonw.AppendString(dst, o.ID)
	dst = append(dst, `,"status":`...)
	dst = jsonw.AppendString(dst, o.Status)
	if o.Kind != "" {
		dst = append(dst, `,"kind":`...)
		dst = jsonw.AppendString(dst, string(o.Kind))
	}
	if len(o.Recipients) > 0 {
		dst = append(dst, `,"recipients":[`...)
		for i := range o.Recipients {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = o.Recipients[i].appendJSON(dst)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(o.Attempts), 10)
	dst = append(dst, `,"source":{"topic":`...)
	dst = jsonw.AppendString(dst, o.Source.Topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(o.Source.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, o.Source.Offset, 10)
	dst = append(dst, '}')
	if o.DuplicateOf != nil {
		dst = append(dst, `,"duplicateOf":{"topic":`...)
		dst = jsonw.AppendString(dst, o.DuplicateOf.Topic)
		dst = append(dst, `,"partition":`...)
		dst = strconv.AppendInt(dst, int64(o.DuplicateOf.Partition), 10)
		dst = append(dst, `,"offset":`...)
		dst = strconv.AppendInt(dst, o.DuplicateOf.Offset, 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"receivedAt":"`...)
	dst = appendTime(dst, o.ReceivedAt)
	dst = append(dst, `","completedAt":"`...)
	dst = appendTime(dst, o.CompletedAt)
	dst = append(dst, '"')
	if o.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = jsonw.AppendString(dst, o.Error)
	}
	if o.Event != nil {
		dst = append(dst, `,"event":`...)
		dst = o.Event.AppendJSON(dst)
	}
	if o.Input != "" {
		dst = append(dst, `,"input":`...)
		dst = jsonw.AppendString(dst, o.Input)
	}
	return append(dst, '}')
}

// appendTime appends t in UTC as TimeLayout gives it, without parsing the
// layout for the years it can write directly.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeLayout)
	}
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

func (r *Recipient) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	sep := false
	if r.ToAccount != "" {
		dst, sep = appendField(dst, sep, "toAccount")
		dst = jsonw.AppendString(dst, r.ToAccount)
	}
	if r.TopicID != "" {
		dst, sep = appendField(dst, sep, "topicId")
		dst = jsonw.AppendString(dst, r.TopicID)
	}
	if r.PacketID != "" {
		dst, sep = appendField(dst, sep, "packetId")
		dst = jsonw.AppendString(dst, r.PacketID)
	}
	if r.Code != 0 {
		dst, sep = appendField(dst, sep, "code")
		dst = strconv.AppendInt(dst, int64(r.Code), 10)
	}
	if r.Message != "" {
		dst, sep = appendField(dst, sep, "message")
		dst = jsonw.AppendString(dst, r.Message)
	}
	if r.Error != "" {
		dst, _ = appendField(dst, sep, "error")
		dst = jsonw.AppendString(dst, r.Error)
	}
	return append(dst, '}')
}

// appendField appends `"name":`, after a comma unless it is the first field.
func appendField(dst []byte, sep bool, name string) ([]byte, bool) {
	if sep {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, `":`...), true
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (o Outcome) MarshalJSON() ([]byte, error) { return o.AppendJSON(nil), nil }

// outcomeFields is Outcome without its methods, so that UnmarshalJSON can
// decode into it without calling itself.
type outcomeFields Outcome

// UnmarshalJSON implements json.Unmarshaler; times may be any RFC 3339 form.
func (o *Outcome) UnmarshalJSON(b []byte) error {
	var out Outcome
	// The times are read as text beside the other fields: the shallower
	// field wins in encoding/json, so Outcome's are left zero here.
	j := struct {
		*outcomeFields
		ReceivedAt  string `json:"receivedAt"`
		CompletedAt string `json:"completedAt"`
	}{outcomeFields: (*outcomeFields)(&out)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var err error
	if out.ReceivedAt, err = parseTime("receivedAt", j.ReceivedAt); err != nil {
		return err
	}
	if out.CompletedAt, err = parseTime("completedAt", j.CompletedAt); err != nil {
		return err
	}
	*o = out
	return nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("outcome %s: %w", field, err)
	}
	return t.UTC(), nil
}

// ParseOutcome decodes an outcome record's value.
func ParseOutcome(b []byte) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		return Outcome{}, fmt.Errorf("parsing outcome: %w", err)
	}
	return o, nil
}
