// Package demo holds the pieces of `mimc-bridge demo` that need no Kafka:
// the burst of sample events and the latency statistics.
package demo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// RefusedAccount is the fromAccount the MIMC sandbox refuses (envelope code
// RefusedCode, final): its events end failed.
const (
	RefusedAccount = "blocked-shop"
	RefusedCode    = 403
)

// Sample is one sample event.
type Sample struct {
	ID    string // the record key; for a bad-JSON sample the outcome's id is <topic>/<partition>/<offset>
	Value []byte
	Want  string // the expected status: event.Delivered, event.Failed, event.Expired or event.Rejected
	What  string // a few words on what it shows
	// Urgent samples go to the urgent topic (URGENT_TOPICS), the others to
	// the input topic.
	Urgent bool
	// Age dates the record's timestamp this far back: an event whose ttl is
	// shorter has expired when it arrives.
	Age time.Duration
	// Key is the record key when it is not the id: the conversation of a
	// chat message, so that its messages share a partition and, with
	// ORDERED_TOPICS, reach MIMC in order.
	Key string
	// Turn is a chat message's place in its conversation, from 1 (0: not a
	// chat message); its recipient is ChatAccount(conversation).
	Turn int
}

// RecordKey is the key the sample is produced with: Key, else its id.
func (s Sample) RecordKey() string {
	if s.Key != "" {
		return s.Key
	}
	return s.ID
}

// Options shape the burst.
type Options struct {
	// Refused includes events from RefusedAccount; only a sandbox that
	// refuses it (mimctest FinalCodeFor) makes them fail.
	Refused bool
	// Seed picks the recipients; the same seed gives the same burst.
	Seed uint64
	// Prefix starts every id ("demo-k3f9"), so that runs sharing a broker
	// (--data-dir) have distinct ids.
	Prefix string
	// Urgent includes login codes for the urgent topic, and Expiring flash
	// sales whose ttl ran out before they were produced (their record's
	// timestamp is Age in the past): they end expired.
	Urgent, Expiring bool
	// Conversations includes Conversations support chats, keyed by
	// conversation, whose n-th messages share a text (so they merge across
	// conversations) and differ from the next.
	Conversations bool
	// Duplicates includes, once per cycle of 20, a copy of the cycle's
	// first event (same id, same value, same key: a producer's retry),
	// which a bridge with DEDUP_WINDOW turns into a duplicate outcome. The
	// first event then has a recipient of its own, DuplicatedAccount(cycle).
	Duplicates bool
}

// Conversations is the number of support chats of a burst with
// Options.Conversations: one message of one of them per cycle of 20.
const Conversations = 5

// ChatAccount is the recipient of conversation c (0-based).
func ChatAccount(c int) string { return fmt.Sprintf("chat-%02d", c+1) }

// ChatMsg is the text of the turn-th message (from 1) of every
// conversation.
func ChatMsg(turn int) string { return fmt.Sprintf("Support chat, message %d", turn) }

// DuplicatedAccount is the recipient of the event copied in cycle c (0-based).
func DuplicatedAccount(c int) string { return fmt.Sprintf("buyer-%03d", c+1) }

// ShippedMsg is the message of the events that Options.Duplicates copies.
const ShippedMsg = "Your order has shipped"

// The ttls of the urgent and the expiring samples, and how old an expiring
// sample's record is.
const (
	UrgentTTL   = 60
	ExpiringTTL = 30
	ExpiringAge = 2 * time.Minute
)

// The shared messages: events carrying the same content merge into one
// p2p/more or p2t/more call.
var (
	shipped = content{FromAccount: "shop", FromResource: "orders", Msg: ShippedMsg, BizType: "ORDER", IsStore: ptr(true)}
	sale    = content{FromAccount: "marketing", Msg: "Flash sale: 20% off until midnight"}
	binary  = content{FromAccount: "shop", Msg: base64.StdEncoding.EncodeToString([]byte("\x00\x01binary payload\xff")), MsgType: "base64"}
	post    = content{FromAccount: "forum", Msg: "New post in your group", BizType: "FORUM"}
	notice  = content{FromAccount: "ops", FromResource: "pager", Msg: "Maintenance tonight at 02:00", IsStore: ptr(false)}
	refused = content{FromAccount: RefusedAccount, Msg: "You won a prize!"}
	support = content{FromAccount: "support", FromResource: "helpdesk", BizType: "CHAT"}
	login   = content{FromAccount: "auth", Msg: "Your login code is 4711", BizType: "OTP"}
	flash   = content{FromAccount: "marketing", Msg: "Flash sale: the next 30 seconds only"}
)

// Topic ids: small ones, and ones past 2^53 that a float64 would round.
var topicIDs = []int64{1001, 1002, 1003, 1<<53 + 1, 1<<53 + 7, 4611686018427387904}

// Samples returns n sample events: per cycle of 20, p2p single and list
// recipients, p2t single and list with topic ids as numbers and strings,
// base64, shared messages so that calls merge, one invalid event and (with
// Options.Refused) one that MIMC refuses, (with Options.Urgent) one login
// code for the urgent topic and (with Options.Expiring) one flash sale that
// has expired when it arrives.
func Samples(n int, o Options) []Sample {
	rng := rand.New(rand.NewPCG(o.Seed, 0x64656d6f))
	account := func() string { return fmt.Sprintf("user-%02d", 1+rng.IntN(40)) }
	accounts := func() []string {
		out := make([]string, 2+rng.IntN(4))
		for i := range out {
			out[i] = account()
		}
		return out
	}
	topicID := func() int64 { return topicIDs[rng.IntN(len(topicIDs))] }
	out := make([]Sample, 0, n)
	invalid := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%04d", o.Prefix, i+1)
		var s Sample
		switch slot, cycle := i%20, i/20; {
		case slot == 0 && o.Duplicates:
			s = shipped.p2p(id, "p2p, one toAccount (copied below)", DuplicatedAccount(cycle))
		case slot == 2 && o.Duplicates:
			// The copy of the cycle's first event: a producer's retry.
			s = out[i-2]
			s.What, s.Want = "duplicate: a copy of a delivered id", event.Duplicate
		case slot == 1 && o.Conversations:
			conv, turn := cycle%Conversations, cycle/Conversations+1
			c := support
			c.Msg = ChatMsg(turn)
			s = c.p2p(id, fmt.Sprintf("chat: message %d of a conversation (keyed)", turn), ChatAccount(conv))
			s.Key, s.Turn = fmt.Sprintf("%s-chat-%d", o.Prefix, conv+1), turn
		case slot == 12 && o.Urgent:
			s = login.p2p(id, "urgent: a login code with a ttl", account())
			s.Value = withTTL(s.Value, UrgentTTL)
			s.Urgent = true
		case slot == 13 && o.Expiring:
			s = flash.p2pList(id, "expired: its ttl ran out before it arrived", accounts())
			s.Value = withTTL(s.Value, ExpiringTTL)
			s.Age, s.Want = ExpiringAge, event.Expired
		case slot <= 3 || slot == 12 || slot == 13:
			s = shipped.p2p(id, "p2p, one toAccount", account())
		case slot <= 6 || slot == 18:
			s = sale.p2pList(id, "p2p, toAccounts list", accounts())
		case slot == 7:
			s = binary.p2p(id, "p2p, base64 msg", account())
		case slot <= 9:
			s = post.p2t(id, "p2t, topicId as a number", topicID())
		case slot <= 11 || slot == 19:
			s = notice.p2tList(id, "p2t, topicIds: numbers and strings", []int64{topicID(), topicID(), topicID()})
		case slot == 14:
			s = shipped.p2pList(id, "p2p, toAccounts list", accounts())
		case slot == 15:
			s = post.p2tString(id, "p2t, topicId as a string", topicID())
		case slot == 16 && o.Refused:
			s = refused.p2p(id, "refused by MIMC (code 403)", account())
		case slot == 16:
			s = sale.p2p(id, "p2p, one toAccount", account())
		default: // slot 17
			s = invalidSample(id, invalid)
			invalid++
		}
		out = append(out, s)
	}
	return out
}

// content is what makes events merge.
type content struct {
	FromAccount, FromResource, Msg, MsgType, BizType string
	IsStore                                          *bool
}

func ptr[T any](v T) *T { return &v }

func (c content) fields(id string) map[string]any {
	m := map[string]any{"id": id, "fromAccount": c.FromAccount, "msg": c.Msg}
	if c.FromResource != "" {
		m["fromResource"] = c.FromResource
	}
	if c.MsgType != "" {
		m["msgType"] = c.MsgType
	}
	if c.BizType != "" {
		m["bizType"] = c.BizType
	}
	if c.IsStore != nil {
		m["isStore"] = *c.IsStore
	}
	return m
}

func (c content) sample(id, what string, m map[string]any) Sample {
	want := event.Delivered
	if c.FromAccount == RefusedAccount {
		want = event.Failed
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("demo: " + err.Error()) // maps of strings, numbers and bools always marshal
	}
	return Sample{ID: id, Value: b, Want: want, What: what}
}

func (c content) p2p(id, what, to string) Sample {
	m := c.fields(id)
	m["toAccount"] = to
	return c.sample(id, what, m)
}

func (c content) p2pList(id, what string, to []string) Sample {
	m := c.fields(id)
	m["toAccounts"] = to
	return c.sample(id, what, m)
}

func (c content) p2t(id, what string, topic int64) Sample {
	m := c.fields(id)
	m["topicId"] = topic
	m["kind"] = event.P2T
	return c.sample(id, what, m)
}

func (c content) p2tString(id, what string, topic int64) Sample {
	m := c.fields(id)
	m["topicId"] = fmt.Sprint(topic)
	return c.sample(id, what, m)
}

func (c content) p2tList(id, what string, topics []int64) Sample {
	m := c.fields(id)
	list := make([]any, len(topics))
	for i, t := range topics {
		if i%2 == 0 {
			list[i] = t
		} else {
			list[i] = fmt.Sprint(t)
		}
	}
	m["topicIds"] = list
	return c.sample(id, what, m)
}

// withTTL adds "ttl": seconds to an event's JSON object.
func withTTL(value []byte, seconds int) []byte {
	return fmt.Appendf(value[:len(value)-1:len(value)-1], `,"ttl":%d}`, seconds)
}

// invalidSample returns the k-th kind of invalid event, in rotation.
func invalidSample(id string, k int) Sample {
	bad := []struct{ what, value string }{
		{"invalid: no recipient", `{"id":%q,"fromAccount":"shop","msg":"to nobody"}`},
		{"invalid: toAccount and topicId", `{"id":%q,"fromAccount":"shop","toAccount":"user-01","topicId":1001,"msg":"both"}`},
		{"invalid: not JSON", `this is not JSON (%s)`},
		{"invalid: msg is not base64", `{"id":%q,"fromAccount":"shop","toAccount":"user-01","msg":"***","msgType":"base64"}`},
		{"invalid: kind disagrees", `{"id":%q,"kind":"p2p","fromAccount":"forum","topicId":1001,"msg":"hello"}`},
		{"invalid: no fromAccount", `{"id":%q,"toAccount":"user-01","msg":"from nobody"}`},
	}
	b := bad[k%len(bad)]
	return Sample{ID: id, Value: fmt.Appendf(nil, b.value, id), Want: event.Rejected, What: b.what}
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method; 0 for none. It sorts ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(float64(len(ds))*p/100+0.999999999) - 1
	return ds[max(0, min(rank, len(ds)-1))]
}
