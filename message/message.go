// Package message defines what a push says, once: the Content that makes
// events mergeable and the Recipients of one kind. The event decoder fills
// them, the batcher keys calls by Content, and the MIMC client encodes them,
// so a new field of a push is added here and in those two ends only. It
// also tells recipients apart, for both (Index, Set, Unique).
package message

import (
	"errors"
	"hash/maphash"
)

// Kind is the kind of a push: to accounts (p2p) or to topics (p2t). Its
// value is the name MIMC's endpoints, the outcomes and the metrics use.
type Kind string

// The two kinds of push.
const (
	P2P Kind = "p2p"
	P2T Kind = "p2t"
)

// Store is the isStore flag of a push: absent, false and true are three
// different contents (absent leaves the server's default). The zero value
// is absent.
type Store uint8

// The three values of Store.
const (
	StoreUnset Store = iota
	StoreFalse
	StoreTrue
)

// StoreOf returns the Store of a flag that is set.
func StoreOf(v bool) Store {
	if v {
		return StoreTrue
	}
	return StoreFalse
}

// Bool returns the flag and whether it is set.
func (s Store) Bool() (v, set bool) { return s == StoreTrue, s != StoreUnset }

// String is "true", "false" or "" (unset).
func (s Store) String() string {
	switch s {
	case StoreTrue:
		return "true"
	case StoreFalse:
		return "false"
	}
	return ""
}

// MarshalJSON writes true, false or null; with omitempty an unset Store is
// left out.
func (s Store) MarshalJSON() ([]byte, error) {
	if s == StoreUnset {
		return []byte("null"), nil
	}
	return []byte(s.String()), nil
}

// UnmarshalJSON reads true, false or null (unset).
func (s *Store) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*s = StoreTrue
	case "false":
		*s = StoreFalse
	case "null":
		*s = StoreUnset
	default:
		return errors.New("isStore: must be true or false")
	}
	return nil
}

// Content is what makes two pushes mergeable: pushes with equal Content go
// out in one call. It is comparable, so it can key a map as it is.
type Content struct {
	Kind         Kind
	FromAccount  string
	FromResource string
	Msg          string
	MsgType      string // "" (text) or "base64"
	BizType      string // "" is not sent
	IsStore      Store  // StoreUnset is not sent
}

// Hash hashes every field of c with seed: each on its own, then mixed in
// order, so that moving bytes from one field to the next changes the hash.
// It is written out field by field because maphash.Comparable of the whole
// struct costs the batcher 7% more per distinct message; a test holds it to
// every field.
func (c *Content) Hash(seed maphash.Seed) uint64 {
	const k = 0x9e3779b97f4a7c15
	h := maphash.String(seed, c.Msg)
	h = (h^maphash.String(seed, c.FromAccount))*k + uint64(len(c.FromAccount))
	h = (h^maphash.String(seed, c.FromResource))*k + uint64(len(c.FromResource))
	h = (h^maphash.String(seed, c.MsgType))*k + uint64(len(c.MsgType))
	h = (h^maphash.String(seed, c.BizType))*k + uint64(len(c.BizType))
	h = (h^maphash.String(seed, string(c.Kind)))*k + uint64(c.IsStore)
	return h ^ h>>29
}

// Recipients are the recipients of a push; only the list of its Content's
// kind is used. Topic ids stay numbers all the way to MIMC.
type Recipients struct {
	ToAccounts []string // p2p
	TopicIDs   []int64  // p2t
}

// Len is the number of recipients in both lists.
func (r Recipients) Len() int { return len(r.ToAccounts) + len(r.TopicIDs) }
