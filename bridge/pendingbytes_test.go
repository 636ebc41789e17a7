package bridge

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
)

// pendingValue is an input record value like the load tool's: recipients
// "u<i>x<j>" and a message of msgBytes.
func pendingValue(i, recipients, msgBytes int) []byte {
	var b strings.Builder
	b.WriteString(`{"id":"e` + strconv.Itoa(i) + `-1764097200000000000","fromAccount":"shop","fromResource":"campaigns","toAccounts":[`)
	for j := range recipients {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"u` + strconv.Itoa(i) + "x" + strconv.Itoa(j) + `"`)
	}
	b.WriteString(`],"msg":"Campaign ` + strconv.Itoa(i%300) + ": ")
	b.WriteString(strings.Repeat("x", max(0, msgBytes-14)))
	b.WriteString(`","bizType":"PROMO","isStore":true}`)
	return []byte(b.String())
}

// BenchmarkPendingEventBytes measures what one pending event holds on the Go
// heap at its largest: its record and decoded event, its share of the
// batcher's calls and results, and its encoded outcome (kept until the
// results topic acknowledges it). It holds n events of each size at once,
// collects, and reports the live heap per event and that minus the record
// value's size: the per-event overhead MAX_PENDING_BYTES counts
// (pendingOverhead). Run with -benchtime=1x.
func BenchmarkPendingEventBytes(b *testing.B) {
	for _, size := range []struct {
		name       string
		recipients int
		msg        int
	}{{"value=200B", 1, 40}, {"value=400B", 3, 100}, {"value=2KiB", 5, 1800}, {"value=10KiB", 5, 9900}} {
		b.Run(size.name, func(b *testing.B) {
			const n = 10000
			cfg := fetchConfig{limits: event.Limits{MaxMsgBytes: 10240, MaxIDBytes: 256, MaxRecipients: 1000, DefaultFromResource: "campaigns"}}
			values := make([][]byte, n)
			valueBytes := 0
			for i := range values {
				values[i] = pendingValue(i, size.recipients, size.msg)
				valueBytes += len(values[i])
			}
			var perEvent, overhead float64
			for b.Loop() {
				at := TopicPartition{Topic: "mimc.push", Partition: 0}
				before := liveHeap()
				bt, err := batching.New(batching.Config[*record]{MaxRecipients: 100, MaxPendingEvents: n, Linger: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				recs := make([]*record, n)
				items := make([]outItem, 0, n)
				var calls []*call
				for i := range recs {
					// kafka-go hands each record its own value: a copy,
					// which the decoded event no longer needs.
					m := Record{Topic: at.Topic, Offset: int64(i), Value: append([]byte(nil), values[i]...), Time: time.Now()}
					recs[i] = newRecord(at, &m, &cfg, normal, nil)
					if calls, err = bt.Add(&recs[i].batch, &recs[i].ev.Content, recs[i].ev.Recipients, calls); err != nil {
						b.Fatal(err)
					}
				}
				// Every event completed by its call, its outcome encoded
				// and waiting for the writer, the call still referenced.
				now := time.Now()
				calls = bt.Flush(calls)
				for _, c := range calls {
					results := make([]batching.Result, c.Recipients.Len())
					for i := range results {
						results[i] = batching.Result{PacketID: "k3f9x-" + strconv.Itoa(1000000+i), Attempts: 1}
					}
					for _, e := range c.Resolve(results...) {
						rec := e.Data
						out := outcomeOf(rec, now, nil)
						items = append(items, completed(rec, now, &out))
					}
				}
				after := liveHeap()
				runtime.KeepAlive(recs)
				runtime.KeepAlive(items)
				runtime.KeepAlive(calls)
				runtime.KeepAlive(bt)
				perEvent = float64(after-before) / n
				overhead = perEvent - float64(valueBytes)/n
			}
			b.ReportMetric(float64(valueBytes)/n, "value-B/event")
			b.ReportMetric(perEvent, "heap-B/event")
			b.ReportMetric(overhead, "overhead-B/event")
		})
	}
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
