package bridge

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// An event's content reaches MIMC as decoded, events of one content merge,
// and topic ids stay numbers all the way: the outcome names them in decimal.
func TestTheEventsContentAndTopicIDsReachMIMCAsGiven(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var calls []mimc.Call
		push := pushFunc(func(_ context.Context, call mimc.Call) (mimc.Result, error) {
			mu.Lock()
			calls = append(calls, call)
			mu.Unlock()
			return answer(call)
		})
		h := newHarness(t, 2, push, nil)
		h.start()
		const rest = `"fromAccount":"forum","fromResource":"srv1","msg":"hi","bizType":"NEWS","isStore":false`
		h.src.produce(0, `{"id":"a",`+rest+`,"topicIds":[9223372036854775807,"9007199254740993"]}`)
		h.src.produce(1, `{"id":"b",`+rest+`,"topicId":7}`)
		time.Sleep(time.Minute)
		h.stop()

		want := message.Content{Kind: message.P2T, FromAccount: "forum", FromResource: "srv1", Msg: "hi",
			BizType: "NEWS", IsStore: message.StoreFalse}
		if len(calls) != 1 || calls[0].Content != want {
			t.Fatalf("calls %+v, want one of %+v", calls, want)
		}
		ids := slices.Clone(calls[0].TopicIDs)
		slices.Sort(ids)
		if want := []int64{7, 9007199254740993, 9223372036854775807}; !reflect.DeepEqual(ids, want) {
			t.Errorf("topic ids %v, want %v", ids, want)
		}
		outs := h.pub.all()
		if len(outs) != 2 {
			t.Fatalf("%d outcomes, want 2", len(outs))
		}
		for _, o := range outs {
			var got []string
			for _, r := range o.Recipients {
				got = append(got, r.TopicID)
			}
			want := map[string][]string{"a": {"9223372036854775807", "9007199254740993"}, "b": {"7"}}[o.ID]
			if o.Status != "delivered" || !slices.Equal(got, want) {
				t.Errorf("outcome %s: %s to %q, want delivered to %q", o.ID, o.Status, got, want)
			}
		}
	})
}

// The batcher cuts calls by what the MIMC client's request bodies weigh.
func TestTheBatcherMeasuresBodiesAsTheClientWritesThem(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:9"}
	cfg.MIMCAppID, cfg.MIMCAppKey, cfg.MIMCAppSecret = "1", "k", secret.New("s")
	client, err := mimc.New(mimc.Config{
		BaseURL:     cfg.MIMCURL,
		Credentials: mimc.Credentials{AppID: cfg.MIMCAppID, AppKey: cfg.MIMCAppKey, AppSecret: cfg.MIMCAppSecret},
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b := New(cfg, Deps{Pusher: client}, zap.NewNop(), metrics.New())
	size, ok := b.pipe.cfg.batch.Size.(mimc.BodySize)
	if !ok {
		t.Fatalf("the batcher's Sizer is %T, want the client's mimc.BodySize", b.pipe.cfg.batch.Size)
	}
	if want := b.pipe.pusher.(*mimc.Client).BodySize(); size != want {
		t.Errorf("the batcher's Sizer is %+v, the client's %+v", size, want)
	}
}
