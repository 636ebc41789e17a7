package integration_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// Records near the broker's default max.message.bytes (1 MiB) go through
// the bridge: one rejected (its msg is far over MAX_MSG_BYTES), one valid
// with 10,000 recipients and padding, and small events around them; the
// partition keeps flowing (the reader's MaxBytes is 4 MiB).
func TestOneMebibyteRecordsGoThroughTheBridge(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)

	const size = 1_000_000
	huge := `{"id":"huge-msg","fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat("x", size) + `"}`
	var b strings.Builder
	b.WriteString(`{"id":"huge-valid","fromAccount":"a","msg":"to many","toAccounts":[`)
	for i := 0; i < 10_000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"r%05d"`, i)
	}
	b.WriteString(`],"padding":"` + strings.Repeat("p", size-b.Len()) + `"}`)
	small, ids := uniqueEvents(t, 20, "around")
	values := append(append(append([][]byte{}, small[:10]...), []byte(huge), []byte(b.String())), small[10:]...)
	w := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Topic: in, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, BatchBytes: 4 << 20}
	defer w.Close()
	for _, v := range values { // one record per batch: each stays under the broker's limit
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := w.WriteMessages(ctx, kafka.Message{Value: v}); err != nil {
			cancel()
			t.Fatalf("producing a %d-byte record: %v", len(v), err)
		}
		cancel()
	}
	cfg := settings(t, c, url, in, results, group)
	startBridge(t, cfg)
	start := time.Now()
	allCommitted(t, c, cfg, 30*time.Second)
	took := time.Since(start)
	byID := map[string]outcomeRecord{}
	for _, o := range c.outcomes(t, results) {
		byID[o.ID] = o
	}
	if o := byID["huge-msg"]; o.Status != event.Rejected || !strings.Contains(o.Error, "msg: too large") || len(o.Input) > event.MaxInputBytes {
		t.Errorf("huge-msg: status %s, error %q, input %d bytes; want rejected as too large with at most 1 KiB of input", o.Status, o.Error, len(o.Input))
	}
	if o := byID["huge-valid"]; o.Status != event.Delivered || len(o.Recipients) != 10_000 {
		t.Errorf("huge-valid: status %s (%s), %d recipients; want delivered to 10000", o.Status, o.Error, len(o.Recipients))
	}
	for _, id := range ids {
		if byID[id].Status != event.Delivered {
			t.Errorf("event %s around the large records: %q", id, byID[id].Status)
		}
	}
	t.Logf("two ~1 MB records and 20 small ones done in %s; %d MIMC calls", took.Round(10*time.Millisecond), len(fake.Calls()))
}
