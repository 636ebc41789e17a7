package kafka

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/internal/retention"
	"github.com/mimc-bridge/mimc-bridge/secret"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// broker is a kfake broker on loopback TCP with helpers for the scanner's
// tests.
type broker struct {
	tb      testing.TB
	kfake   *kfake.Cluster
	conn    Conn
	brokers []string
}

func newBroker(tb testing.TB) *broker {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		tb.Fatalf("starting the kfake broker: %v", err)
	}
	tb.Cleanup(c.Close)
	return &broker{tb: tb, kfake: c, conn: Conn{Brokers: c.ListenAddrs()}, brokers: c.ListenAddrs()}
}

func (b *broker) client() *kafkago.Client {
	return &kafkago.Client{Addr: kafkago.TCP(b.brokers...), Timeout: 10 * time.Second}
}

// topic creates a topic with a random name.
func (b *broker) topic(prefix string, partitions int) string {
	b.tb.Helper()
	name := fmt.Sprintf("%s-%d", prefix, rand.Int63())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := b.client().CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		b.tb.Fatalf("creating topic %s: %v", name, err)
	}
	return name
}

// testSigner is the signer of the tests' outcomes, from a test app secret.
var testSigner = mustSigner("test-app-secret-0123456789")

func mustSigner(appSecret string) *Signer {
	s, err := NewSigner(secret.New(appSecret))
	if err != nil {
		panic(err)
	}
	return s
}

// publish writes msgs to topic through a Publisher of group that signs
// with testSigner.
func (b *broker) publish(topic, group string, msgs []bridge.Message) {
	b.tb.Helper()
	b.publishSigned(topic, group, testSigner, msgs)
}

// publishSigned writes msgs to topic through a Publisher of group that
// signs with sig (nil: no signature).
func (b *broker) publishSigned(topic, group string, sig *Signer, msgs []bridge.Message) {
	b.tb.Helper()
	pub, err := NewPublisher(PublisherConfig{Conn: b.conn, Topic: topic, Group: group, Signer: sig}, zap.NewNop())
	if err != nil {
		b.tb.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 2000)
		if err := pub.Publish(ctx, msgs[:n], nil); err != nil {
			b.tb.Fatalf("publishing: %v", err)
		}
		msgs = msgs[n:]
	}
}

// outcomesOf returns one outcome message per offset of tp in [from, to).
func outcomesOf(tp bridge.TopicPartition, from, to int64) []bridge.Message {
	var msgs []bridge.Message
	for off := from; off < to; off++ {
		id := fmt.Sprintf("%s/%d/%d", tp.Topic, tp.Partition, off)
		msgs = append(msgs, bridge.Message{Key: []byte(id), Value: []byte(`{"id":"` + id + `","status":"delivered"}`), Source: tp, SourceOffset: off, Status: "delivered"})
	}
	return msgs
}

func (b *broker) scanner(results, group string) *Scanner {
	b.tb.Helper()
	return b.scannerWith(results, group, zap.NewNop())
}

func (b *broker) scannerWith(results, group string, log *zap.Logger) *Scanner {
	b.tb.Helper()
	s, err := NewScanner(ScannerConfig{Conn: b.conn, Topic: results, Group: group, Signer: testSigner}, log)
	if err != nil {
		b.tb.Fatal(err)
	}
	b.tb.Cleanup(s.Close)
	return s
}

// newScanCase starts a broker with an input topic of one partition (tp) and
// a results topic of resultParts partitions, and names a group.
func newScanCase(t *testing.T, resultParts int) (b *broker, tp bridge.TopicPartition, results, group string) {
	t.Helper()
	b = newBroker(t)
	tp = bridge.TopicPartition{Topic: b.topic("push", 1), Partition: 0}
	return b, tp, b.topic("results", resultParts), fmt.Sprintf("group-%d", rand.Int63())
}

func offsets(from, to int64) []int64 {
	var out []int64
	for off := from; off < to; off++ {
		out = append(out, off)
	}
	return out
}

func TestScanFindsTheGroupsOutcomesAtOrAfterTheCommittedOffsetOfAssignedPartitions(t *testing.T) {
	b := newBroker(t)
	in := b.topic("push", 3)
	results := b.topic("results", 4) // more partitions than outcomes' keys fill: some stay empty
	group := fmt.Sprintf("group-%d", rand.Int63())
	since := time.Now().Add(-time.Minute)
	p0 := bridge.TopicPartition{Topic: in, Partition: 0}
	p1 := bridge.TopicPartition{Topic: in, Partition: 1}
	p2 := bridge.TopicPartition{Topic: in, Partition: 2}

	var mine []bridge.Message
	mine = append(mine, outcomesOf(p0, 0, 10)...)
	mine = append(mine, outcomesOf(p1, 0, 5)...)
	mine = append(mine, outcomesOf(p1, 3, 4)...) // a second outcome of p1/3 (an earlier crash)
	mine = append(mine, outcomesOf(p2, 0, 5)...) // a partition not assigned here
	mine = append(mine, bridge.Message{Key: []byte("no-source"), Value: []byte(`{}`)})
	b.publish(results, group, mine)
	b.publish(results, "another-group", outcomesOf(p0, 10, 15))

	s := b.scanner(results, group)
	done, stats, err := s.Scan(context.Background(), []bridge.Assignment{
		{TopicPartition: p0, Offset: 5, OutcomesSince: since},
		{TopicPartition: p1, Offset: 0, OutcomesSince: since},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := done.Partition(p0), offsets(5, 10); !slices.Equal(got, want) {
		t.Errorf("%s: found %v, want %v (below the committed offset and other groups' outcomes are not)", p0, got, want)
	}
	if got, want := done.Partition(p1), offsets(0, 5); !slices.Equal(got, want) {
		t.Errorf("%s: found %v, want %v", p1, got, want)
	}
	if got := done.Partition(p2); len(got) != 0 {
		t.Errorf("%s is not assigned, yet %v were kept", p2, got)
	}
	if !done.Has(p0, 7) || done.Has(p0, 4) || done.Has(p0, 12) {
		t.Errorf("Has disagrees with Partition: %v", done.Partition(p0))
	}
	if total := len(mine) + 5; stats.Read != total {
		t.Errorf("read %d records, want every one since the bound: %d", stats.Read, total)
	}
	if done.Len() != 10 {
		t.Errorf("Len %d, want 10", done.Len())
	}
}

func TestScanReadsNothingForACommitWithoutABound(t *testing.T) {
	b, tp, results, group := newScanCase(t, 2)
	b.publish(results, group, outcomesOf(tp, 0, 20))

	done, stats, err := b.scanner(results, group).Scan(context.Background(), []bridge.Assignment{{TopicPartition: tp, Offset: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if done.Len() != 0 || stats.Read != 0 || stats.Partitions != 0 {
		t.Errorf("a commit without a bound found %d and read %d records on %d partitions, want nothing", done.Len(), stats.Read, stats.Partitions)
	}
}

// Outcomes written before the bound are not read at all: the bound is what
// keeps the scan short however long the results topic is.
func TestScanStartsAtTheBound(t *testing.T) {
	b, tp, results, group := newScanCase(t, 1)
	old := time.Now().Add(-time.Hour)
	// Outcomes of the same offsets written an hour ago (by a writer whose
	// records carry that time), then today's.
	w := &kafkago.Writer{Addr: kafkago.TCP(b.brokers...), Topic: results, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var olds []kafkago.Message
	for _, m := range outcomesOf(tp, 0, 50) {
		hs, _ := appendSourceHeaders(nil, make([]byte, 0, sourceHeaderBytes(&m)), testSigner, []byte(group), &m)
		olds = append(olds, kafkago.Message{Key: m.Key, Value: m.Value, Headers: hs, Time: old})
	}
	if err := w.WriteMessages(context.Background(), olds...); err != nil {
		t.Fatal(err)
	}
	b.publish(results, group, outcomesOf(tp, 40, 50))

	done, stats, err := b.scanner(results, group).Scan(context.Background(), []bridge.Assignment{
		{TopicPartition: tp, Offset: 0, OutcomesSince: old.Add(30 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := done.Partition(tp), offsets(40, 50); !slices.Equal(got, want) {
		t.Errorf("found %v, want %v", got, want)
	}
	if stats.Read != 10 {
		t.Errorf("read %d records, want only the 10 written since the bound", stats.Read)
	}
}

// Retention deletes a results topic's oldest segments: a scan that was to
// start below the log start starts at the log start instead, and finds what
// is left.
func TestScanStartingBelowTheLogStartStartsAtTheLogStart(t *testing.T) {
	b, tp, results, group := newScanCase(t, 1)
	b.publish(results, group, outcomesOf(tp, 0, 30))
	b.deleteRecords(results, 0, 12)

	s := b.scanner(results, group)
	// The offset listed for the bound was 0 before retention ran.
	found, read, _, err := s.scanPartition(context.Background(), 0, 0, 30, map[bridge.TopicPartition]int64{tp: 5})
	if err != nil {
		t.Fatalf("scanning from below the log start: %v", err)
	}
	if got, want := found[tp], offsets(12, 30); !slices.Equal(got, want) {
		t.Errorf("found %v, want %v: the outcomes left after the log start", got, want)
	}
	if read != 18 {
		t.Errorf("read %d records, want 18", read)
	}
	// And through Scan, with a bound older than anything left.
	done, _, err := s.Scan(context.Background(), []bridge.Assignment{{TopicPartition: tp, Offset: 5, OutcomesSince: time.Now().Add(-time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := done.Partition(tp), offsets(12, 30); !slices.Equal(got, want) {
		t.Errorf("Scan found %v, want %v", got, want)
	}
}

// deleteRecords deletes the records of topic/partition below offset, as
// retention does with old segments.
func (b *broker) deleteRecords(topic string, partition int32, before int64) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := retention.DeleteBefore(ctx, b.brokers, topic, partition, before); err != nil {
		b.tb.Fatal(err)
	}
}

func TestCommitMetadataRoundTrips(t *testing.T) {
	at := time.UnixMilli(1764607842123)
	tests := []struct {
		scenario string
		md       string
		want     time.Time
	}{
		{"a bound written by the bridge comes back", CommitMetadata(at), at},
		{"no metadata carries no bound", "", time.Time{}},
		{"a tool's metadata carries no bound", "reset by kafka-consumer-groups", time.Time{}},
		{"a later format carries no bound", "mimc-bridge/2 outcomes-since=1764607842123", time.Time{}},
		{"a bound that is not a number carries none", commitMetadataPrefix + "soon", time.Time{}},
		{"a zero bound is written as none", CommitMetadata(time.Time{}), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := decodeCommitMetadata(tt.md); !got.Equal(tt.want) {
				t.Errorf("decodeCommitMetadata(%q) = %v, want %v", tt.md, got, tt.want)
			}
		})
	}
}

func TestSourceHeadersRoundTrip(t *testing.T) {
	tp := bridge.TopicPartition{Topic: "mimc.push", Partition: 3}
	m := bridge.Message{Key: []byte("order-1"), Source: tp, SourceOffset: 1042, Status: "delivered"}
	hs, _ := appendSourceHeaders(nil, make([]byte, 0, sourceHeaderBytes(&m)), testSigner, []byte("g1"), &m)
	got := parseSourceHeaders(hs)
	if !got.ok || string(got.topic) != tp.Topic || got.part != 3 || got.offset != 1042 || string(got.group) != "g1" || string(got.status) != "delivered" {
		t.Errorf("parsed %+v from %v", got, hs)
	}
	if !got.signed(testSigner, m.Key) {
		t.Errorf("the signature of %v does not check", hs)
	}
	if hs, _ := appendSourceHeaders(nil, nil, testSigner, []byte("g1"), &bridge.Message{SourceOffset: 5}); len(hs) != 0 {
		t.Errorf("an outcome without a source got headers %v", hs)
	}
	bad := []kafkago.Header{{Key: HeaderSourceTopic, Value: []byte("t")}, {Key: HeaderSourcePartition, Value: []byte("x")}, {Key: HeaderSourceOffset, Value: []byte("1")}}
	if parseSourceHeaders(bad).ok {
		t.Errorf("a partition that is not a number parsed as a source")
	}
}

// BenchmarkScan100kOutcomes is a generation start after a crash with 100k
// outcomes written since the last commit: the scan reads them all (over
// TCP from kfake) and keeps their source offsets. Target: under 0.5 s.
//
//	go test ./kafka/ -run '^$' -bench Scan100k -benchtime 5x
func BenchmarkScan100kOutcomes(b *testing.B) {
	const outcomes, inParts, resultParts = 100_000, 8, 4
	br := newBroker(b)
	in := br.topic("push", inParts)
	results := br.topic("results", resultParts)
	group := fmt.Sprintf("group-%d", rand.Int63())
	since := time.Now().Add(-time.Second)
	var msgs []bridge.Message
	var as []bridge.Assignment
	for p := range inParts {
		tp := bridge.TopicPartition{Topic: in, Partition: p}
		as = append(as, bridge.Assignment{TopicPartition: tp, Offset: 0, OutcomesSince: since})
		for _, m := range outcomesOf(tp, 0, outcomes/inParts) {
			// The size of a delivered outcome with one recipient.
			m.Value = fmt.Appendf(nil, `{"id":%q,"status":"delivered","kind":"p2p","recipients":[{"toAccount":"user-%d","packetId":"ab12-%d"}],"attempts":1,"source":{"topic":%q,"partition":%d,"offset":%d},"receivedAt":"2026-11-25T10:00:00.120Z","completedAt":"2026-11-25T10:00:00.190Z"}`,
				m.Key, m.SourceOffset, m.SourceOffset, in, p, m.SourceOffset)
			msgs = append(msgs, m)
		}
	}
	br.publish(results, group, msgs)
	s := br.scanner(results, group)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		done, stats, err := s.Scan(context.Background(), as)
		if err != nil {
			b.Fatal(err)
		}
		if done.Len() != outcomes || stats.Read != outcomes {
			b.Fatalf("found %d and read %d, want %d", done.Len(), stats.Read, outcomes)
		}
	}
	b.ReportMetric(float64(outcomes*b.N)/b.Elapsed().Seconds(), "records/s")
}
