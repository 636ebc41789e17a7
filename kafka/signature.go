package kafka

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/mimc-bridge/mimc-bridge/secret"
)

// The crash skip (Scanner) takes an outcome on the results topic as proof
// that its input record is done: it is skipped, with no push and no second
// outcome. Anyone who can write to the results topic could forge that
// proof, so every outcome the bridge writes is signed, and the scan trusts
// only outcomes whose signature checks.
//
// The signature is HMAC-SHA256, in lower-case hex, over the group, the
// source topic, partition and offset (as their headers spell them), the
// record key (the event id) and the status header. Its key is derived from
// the MIMC app secret with HKDF-SHA256, so there is no new secret to manage:
// every member of a group holds the app secret already. A new app secret
// makes the outcomes signed with the old one untrusted (their records are
// done again after a crash, never lost).
const (
	HeaderStatus    = "mimc-bridge.status"
	HeaderSignature = "mimc-bridge.signature"
)

// signatureInfo is HKDF's info: it binds the derived key to this one use.
const signatureInfo = "mimc-bridge outcome signature v1"

// signatureLen is the length of a signature header's value.
const signatureLen = 2 * sha256.Size

// Signer signs outcome records and checks their signatures. It is safe for
// concurrent use. It never prints its key: %v shows a fixed text.
type Signer struct {
	// macs holds *macState values keyed with the derived key; the key
	// lives only in the pool's New closure.
	macs sync.Pool
}

// macState is a keyed HMAC and the scratch space of one signature: the
// signed bytes go to the hash in one Write, and nothing escapes per call.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// NewSigner derives the signing key from the MIMC app secret. Its errors
// never contain the secret.
func NewSigner(appSecret secret.String) (*Signer, error) {
	if appSecret.IsZero() {
		return nil, errors.New("cannot create an outcome signer without the MIMC app secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(appSecret.Reveal()), nil, signatureInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("deriving the outcome signing key: %w", err)
	}
	s := &Signer{}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, key), msg: make([]byte, 0, 256)} }
	return s, nil
}

// String implements fmt.Stringer without the key.
func (s *Signer) String() string { return "kafka.Signer(" + secret.Redacted + ")" }

// GoString implements fmt.GoStringer without the key.
func (s *Signer) GoString() string { return s.String() }

// signedFields are the header values and the key an outcome's signature
// covers, as written on the record.
type signedFields struct {
	group, topic, partition, offset, id, status []byte
}

// appendSignature appends the hex signature of f to dst.
func (s *Signer) appendSignature(dst []byte, f *signedFields) []byte {
	m := s.macs.Get().(*macState)
	msg := m.msg[:0]
	for _, b := range [...][]byte{f.group, f.topic, f.partition, f.offset, f.id, f.status} {
		// Each field prefixed with its length: no two lists of fields
		// sign the same bytes.
		msg = binary.AppendUvarint(msg, uint64(len(b)))
		msg = append(msg, b...)
	}
	m.h.Reset()
	m.h.Write(msg)
	dst = hex.AppendEncode(dst, m.h.Sum(m.sum[:0]))
	if cap(msg) <= 4<<10 {
		m.msg = msg // a rare huge id is not kept
	}
	s.macs.Put(m)
	return dst
}

// verify reports whether sig is the signature of f.
func (s *Signer) verify(sig []byte, f *signedFields) bool {
	if len(sig) != signatureLen {
		return false
	}
	var buf [signatureLen]byte
	return hmac.Equal(s.appendSignature(buf[:0], f), sig)
}
