package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kfakeAdmin starts a kfake broker for the test and returns it with an
// Admin of it and a random topic name (not created).
func kfakeAdmin(t *testing.T, prefix string) (*kfake.Cluster, *Admin, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ad := NewAdmin(Conn{Brokers: c.ListenAddrs()})
	t.Cleanup(ad.Close)
	return c, ad, fmt.Sprintf("%s-%d", prefix, rand.Int64())
}

func TestAdminProducesAndReadsARange(t *testing.T) {
	_, ad, topic := kfakeAdmin(t, "admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := ad.CreateTopics(ctx, 3, topic); err != nil {
		t.Fatal(err)
	}
	if err := ad.CreateTopics(ctx, 3, topic); err != nil {
		t.Errorf("creating a topic that exists: %v", err)
	}
	ps, err := ad.Partitions(ctx, topic)
	if err != nil || len(ps) != 3 {
		t.Fatalf("partitions %v, %v", ps, err)
	}

	// Keyed records go where the key hashes, in order.
	want := map[int][]string{}
	for i := range 12 {
		key := fmt.Sprintf("k%d", i)
		p, off, err := ad.ProduceKeyed(ctx, topic, []byte(key), []byte("v"+key))
		if err != nil {
			t.Fatal(err)
		}
		if p != KeyPartition([]byte(key), ps) || off != int64(len(want[p])) {
			t.Errorf("%s landed at %d/%d, want partition %d offset %d", key, p, off, KeyPartition([]byte(key), ps), len(want[p]))
		}
		want[p] = append(want[p], key)
	}
	first, end, err := ad.Offsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if first[p] != 0 || end[p] != int64(len(want[p])) {
			t.Errorf("partition %d: offsets %d-%d, want 0-%d", p, first[p], end[p], len(want[p]))
		}
	}

	t.Run("a range ends at the end offsets, in order within a partition", func(t *testing.T) {
		got := map[int][]string{}
		err := ad.ReadRange(ctx, topic, first, end, func(r RangeRecord) error {
			if string(r.Value) != "v"+string(r.Key) || r.Offset != int64(len(got[r.Partition])) {
				t.Errorf("record %d/%d: key %q value %q", r.Partition, r.Offset, r.Key, r.Value)
			}
			got[r.Partition] = append(got[r.Partition], string(r.Key))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("read %v, want %v", got, want)
		}
	})
	t.Run("an error from the callback stops the reading and is returned", func(t *testing.T) {
		stop := errors.New("enough")
		n := 0
		err := ad.ReadRange(ctx, topic, first, end, func(RangeRecord) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("err %v after %d records; want %v after 1", err, n, stop)
		}
	})
	t.Run("following ends with the context", func(t *testing.T) {
		fctx, fcancel := context.WithCancel(ctx)
		n := 0
		err := ad.ReadRange(fctx, topic, first, nil, func(RangeRecord) error {
			if n++; n == 12 {
				fcancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) || n != 12 {
			t.Errorf("err %v after %d records; want context.Canceled after 12", err, n)
		}
	})
}
