// Package event decodes and validates input records into normalized events,
// and defines the outcome record. It is the single source of truth for what
// the bridge accepts: the bridge and the send command both call Decode.
//
// Choices beyond the design's contract:
//
//   - Keys match exactly (case-sensitive), unlike encoding/json; JSON escapes
//     in keys are honoured ("\u0069d" is "id").
//   - A known field given twice is rejected ("duplicate field msg"), because
//     JSON readers disagree on which copy wins; repeated unknown fields are
//     ignored like every unknown field.
//   - null counts as absent for every field.
//   - An empty id, kind, fromResource or msgType counts as absent.
//   - msgType is "" (plain text) or "base64"; anything else is rejected. A
//     base64 msg uses the standard alphabet with padding (RFC 4648 §4,
//     strict: no line breaks, no unpadded or URL-safe form), because it is
//     passed to MIMC as is.
//   - A topic id is a JSON integer (no fraction or exponent, read from the
//     literal, never through float64) or a string of decimal digits without
//     sign, spaces or leading zeros (one spelling per id), from 1 to 2^63-1.
//   - An account (fromAccount, toAccount, toAccounts) is not only white
//     space and holds no control character (C0, DEL, C1).
//   - A \u escape of a lone UTF-16 surrogate is rejected in every string:
//     encoding/json would turn it into U+FFFD, which the sender did not mean.
//   - An empty (or tombstone) record is "empty record"; a UTF-8 byte-order
//     mark before the JSON is named as such.
//   - Nesting is bounded by encoding/json's validator (10000 levels); the
//     skipping of unknown values is iterative, so deep values cost no stack.
package event

import (
	"strconv"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// Kinds of event, as in message; an outcome's kind is one of them too.
const (
	P2P = message.P2P
	P2T = message.P2T
)

// Source locates an input record.
type Source struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// DefaultID is the id of an event that has none: "<topic>/<partition>/<offset>".
func (s Source) DefaultID() string {
	b := make([]byte, 0, len(s.Topic)+24)
	b = append(b, s.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(s.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, s.Offset, 10)
	return string(b)
}

// Event is a validated, normalized input event: its id and the push it asks
// for. FromResource is Limits.DefaultFromResource when the input has none;
// the recipients (ToAccounts for p2p, TopicIDs > 0 for p2t) are unique, in
// order of first appearance.
type Event struct {
	ID string // the given id, or Source.DefaultID
	message.Content
	message.Recipients
	TTL int // seconds to live from the record's timestamp, 1 to MaxTTL; 0 when absent (not sent: it is no part of the push)
}

// Subset returns the event with only the recipients at positions idx (of
// ToAccounts or TopicIDs, ascending): the event of an outcome, holding what
// was not delivered, so that producing it again sends only that. Every
// position gives e itself; e is never changed.
func (e *Event) Subset(idx []int) *Event {
	if len(idx) == e.Recipients.Len() {
		return e
	}
	sub := *e
	if e.Kind == P2T {
		sub.TopicIDs = pick(e.TopicIDs, idx)
	} else {
		sub.ToAccounts = pick(e.ToAccounts, idx)
	}
	return &sub
}

func pick[T any](list []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = list[j]
	}
	return out
}

// Limits bound what Decode accepts. A zero number means its default.
type Limits struct {
	MaxMsgBytes         int    // largest msg after base64 decoding; default 10240
	MaxIDBytes          int    // longest id; default 256
	MaxRecipients       int    // most unique recipients; default 10000
	DefaultFromResource string // fromResource of an event without one ("" leaves it empty)
}

// Default limits.
const (
	DefaultMaxMsgBytes   = 10240
	DefaultMaxIDBytes    = 256
	DefaultMaxRecipients = 10000
)

func (l Limits) withDefaults() Limits {
	if l.MaxMsgBytes <= 0 {
		l.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if l.MaxIDBytes <= 0 {
		l.MaxIDBytes = DefaultMaxIDBytes
	}
	if l.MaxRecipients <= 0 {
		l.MaxRecipients = DefaultMaxRecipients
	}
	return l
}

// RejectError says why an input record is rejected.
type RejectError struct {
	ID     string // the event's id when it was valid, else Source.DefaultID
	Reason string
}

func (e *RejectError) Error() string { return "rejected: " + e.Reason }
