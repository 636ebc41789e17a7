package kafka

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mimc-bridge/mimc-bridge/secret"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// A writer of the results topic who does not hold the app secret cannot
// make the next owner of a partition skip records: outcomes without a
// signature, with another key's signature, or with a signature copied
// from another outcome are ignored, counted and logged, and their records
// are done again.
func TestScanTrustsOnlyOutcomesWhoseSignatureChecks(t *testing.T) {
	b, tp, results, group := newScanCase(t, 2)
	b.publish(results, group, outcomesOf(tp, 0, 5)) // the bridge's own, signed

	// Forged: unsigned (a tool that copies the headers, an older version).
	b.publishSigned(results, group, nil, outcomesOf(tp, 5, 10))
	// Forged: signed with a key derived from another secret.
	b.publishSigned(results, group, mustSigner("not-the-app-secret-0123456789"), outcomesOf(tp, 10, 13))
	// Forged: a genuine signature moved to other records: another offset,
	// another status, another id, another group.
	genuine := func(m bridge.Message) []kafkago.Header {
		hs, _ := appendSourceHeaders(nil, make([]byte, 0, sourceHeaderBytes(&m)), testSigner, []byte(group), &m)
		return hs
	}
	set := func(hs []kafkago.Header, key, value string) []kafkago.Header {
		hs = slices.Clone(hs)
		for i := range hs {
			if hs[i].Key == key {
				hs[i].Value = []byte(value)
			}
		}
		return hs
	}
	real0 := outcomesOf(tp, 0, 1)[0]
	failed := real0
	failed.Status = "failed"
	forged := []kafkago.Message{
		{Key: real0.Key, Headers: set(genuine(real0), HeaderSourceOffset, "13")},
		{Key: real0.Key, Headers: set(genuine(failed), HeaderStatus, "delivered")},
		{Key: []byte("another-id"), Headers: set(genuine(real0), HeaderSourceOffset, "14")},
		{Key: real0.Key, Headers: set(set(genuine(real0), HeaderSourceOffset, "15"), HeaderSourceOffset, "015")},
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(b.brokers...), Topic: results, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), forged...); err != nil {
		t.Fatal(err)
	}
	// Another group's outcomes, signed or not, are not this group's business.
	b.publishSigned(results, "another-group", nil, outcomesOf(tp, 20, 22))

	core, logs := observer.New(zapcore.InfoLevel)
	done, stats, err := b.scannerWith(results, group, zap.New(core)).Scan(context.Background(), []bridge.Assignment{
		{TopicPartition: tp, Offset: 0, OutcomesSince: time.Now().Add(-time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := done.Partition(tp), offsets(0, 5); !slices.Equal(got, want) {
		t.Errorf("found %v, want only the signed outcomes' %v", got, want)
	}
	if want := 5 + 3 + len(forged); stats.Ignored != want {
		t.Errorf("ignored %d, want %d", stats.Ignored, want)
	}
	warned := logs.FilterMessageSnippet("ignored results records of this group whose signature does not check").All()
	if len(warned) != 1 {
		t.Fatalf("%d log lines about ignored records, want 1: %v", len(warned), logs.All())
	}
	f := warned[0].ContextMap()
	if f["ignored"] != int64(5+3+len(forged)) || f["unsigned"] != int64(5) {
		t.Errorf("log fields %v", f)
	}
	first := fmt.Sprint(f["first_ignored"])
	if !strings.Contains(first, fmt.Sprintf("claims %s/5 (no signature)", tp)) || !strings.Contains(first, "(wrong signature)") {
		t.Errorf("the log does not name the ignored records: %s", first)
	}
}

func TestTheSigningKeyDependsOnTheAppSecretAndNeverShows(t *testing.T) {
	const appSecret = "canary-app-secret-4711"
	s := mustSigner(appSecret)
	f := signedFields{group: []byte("g"), topic: []byte("t"), partition: []byte("0"), offset: []byte("1"), id: []byte("id"), status: []byte("delivered")}
	sig := s.appendSignature(nil, &f)
	if len(sig) != signatureLen || !s.verify(sig, &f) {
		t.Fatalf("signature %q does not check", sig)
	}
	if mustSigner(appSecret+"x").verify(sig, &f) {
		t.Errorf("a signature checks with a key from another secret")
	}
	// Fields are length-prefixed: moving a byte from one to the next
	// changes the signature.
	g := f
	g.group, g.topic = []byte("gt"), []byte("")
	if s.verify(sig, &g) {
		t.Errorf("a signature checks for other fields with the same bytes")
	}
	holder := struct {
		S   *Signer
		Cfg PublisherConfig
	}{s, PublisherConfig{Signer: s}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, holder); strings.Contains(out, appSecret) || strings.Contains(out, "canary") {
			t.Errorf("%s shows the secret: %s", verb, out)
		}
		if out := fmt.Sprintf(verb, s); !strings.Contains(out, secret.Redacted) {
			t.Errorf("%s of a Signer is %q, want it redacted", verb, out)
		}
	}
	if _, err := NewSigner(secret.String{}); err == nil {
		t.Errorf("a signer without an app secret was created")
	}
	if _, err := NewScanner(ScannerConfig{Conn: Conn{Brokers: []string{"k:9092"}}, Topic: "r", Group: "g"}, zap.NewNop()); err == nil {
		t.Errorf("a scanner without a signer was created")
	}
}

// The signature is the contract the next owner checks (and older versions
// wrote): HMAC-SHA256 with the HKDF-derived key over each field prefixed
// with its length, in hex. Computed here from that description.
func TestTheSignatureIsAnHMACOverTheLengthPrefixedFields(t *testing.T) {
	sig, err := NewSigner(secret.New("a-secret-of-sixteen-or-more"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, []byte("a-secret-of-sixteen-or-more"), nil, signatureInfo, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []signedFields{
		{group: []byte("g"), topic: []byte("t"), partition: []byte("0"), offset: []byte("17"), id: []byte("e-1"), status: []byte("delivered")},
		{topic: []byte("push"), partition: []byte("11"), offset: []byte("0"), id: []byte(strings.Repeat("x", 300)), status: []byte("failed")},
		{id: []byte(strings.Repeat("y", 5000))},
	} {
		mac := hmac.New(sha256.New, key)
		for _, b := range [][]byte{f.group, f.topic, f.partition, f.offset, f.id, f.status} {
			mac.Write(binary.AppendUvarint(nil, uint64(len(b))))
			mac.Write(b)
		}
		want := hex.EncodeToString(mac.Sum(nil))
		for range 2 { // once with a fresh state, once reused
			if got := string(sig.appendSignature([]byte("prefix:"), &f)); got != "prefix:"+want {
				t.Errorf("signature of %q: got %s, want prefix:%s", f.id, got, want)
			}
		}
	}
}

func BenchmarkSignature(b *testing.B) {
	sig, err := NewSigner(secret.New("a-secret-of-sixteen-or-more"))
	if err != nil {
		b.Fatal(err)
	}
	f := signedFields{group: []byte("mimc-bridge"), topic: []byte("mimc.push"), partition: []byte("3"), offset: []byte("1234567"),
		id: []byte("order-4711-shipped-000123"), status: []byte("delivered")}
	buf := make([]byte, 0, signatureLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = sig.appendSignature(buf[:0], &f)
	}
}
