package batching

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/internal/jsonw"
	"github.com/mimc-bridge/mimc-bridge/message"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// jsonSize measures bodies as a JSON request of the content's strings and
// the recipients would be: a fixed part for keys and credentials, each
// string quoted, each recipient with its comma, topic ids as numbers.
type jsonSize struct{}

const jsonFixed = 256

func (jsonSize) Empty(c *message.Content) int {
	return jsonFixed + jsonw.Len(c.FromAccount) + jsonw.Len(c.FromResource) +
		jsonw.Len(c.BizType) + jsonw.Len(c.MsgType) + jsonw.Len(c.Msg)
}
func (jsonSize) Account(a string) int { return jsonw.Len(a) + 1 }
func (jsonSize) TopicID(id int64) int { return len(strconv.FormatInt(id, 10)) + 1 }

// newTestBatcher returns a batcher on a fake clock that measures bodies
// with jsonSize unless cfg has a Sizer.
func newTestBatcher(t *testing.T, cfg testConfig) (*testBatcher, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	if cfg.Size == nil {
		cfg.Size = jsonSize{}
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

func p2p(msg string, rs ...string) *testEvent {
	return newEvent(&message.Content{Kind: message.P2P, FromAccount: "shop", Msg: msg},
		message.Recipients{ToAccounts: rs})
}

func p2t(msg string, ids ...int64) *testEvent {
	return newEvent(&message.Content{Kind: message.P2T, FromAccount: "shop", Msg: msg},
		message.Recipients{TopicIDs: ids})
}

// names lists recipients as text (topic ids in decimal) for the checks.
func names(r message.Recipients) []string {
	if len(r.TopicIDs) == 0 {
		return r.ToAccounts
	}
	out := make([]string, len(r.TopicIDs))
	for i, id := range r.TopicIDs {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}

func mustAdd(t *testing.T, b *testBatcher, ev *testEvent, dst []*testCall) []*testCall {
	t.Helper()
	dst, err := addEvent(b, ev, dst)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return dst
}

func recipientsOf(calls []*testCall) [][]string {
	out := make([][]string, len(calls))
	for i, c := range calls {
		out[i] = names(c.Recipients)
	}
	return out
}

func wantCalls(t *testing.T, calls []*testCall, want ...[]string) {
	t.Helper()
	got := recipientsOf(calls)
	if len(want) == 0 {
		want = [][]string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
}

func ok(rs ...string) []Result {
	out := make([]Result, len(rs))
	for i, r := range rs {
		out[i] = Result{PacketID: "pk-" + r, Attempts: 1}
	}
	return out
}

func TestBatcher(t *testing.T) {
	tests := []struct {
		scenario string
		function func(*testing.T)
	}{
		{"events with equal content merge into one call", testMerge},
		{"events with different content never merge", testDifferentContent},
		{"isStore unset, false and true are three contents", testIsStore},
		{"contents whose hashes collide still never merge", testHashCollision},
		{"a recipient repeated inside one event counts once", testRepeatInEvent},
		{"a recipient already in the open call goes into the next call", testRepeatAcrossEvents},
		{"with DistinctRecipients an event's recipients are taken as they are, and calls still never repeat one", testDistinctRecipients},
		{"a recipient goes into the first open call that neither holds it nor is full", testFirstFit},
		{"a call goes out from Add as soon as it holds MaxRecipients", testMaxRecipients},
		{"an event with more recipients than MaxRecipients spans several calls", testLargeEvent},
		{"a kind's own max recipients makes its calls smaller and leaves the other kind's alone", testKindMaxRecipients},
		{"a call goes out before a recipient would push its body past MaxBodyBytes", testBodySize},
		{"a recipient that cannot fit in an empty call goes out alone", testLoneRecipient},
		{"p2t topic ids stay numbers and cost what the Sizer says", testP2TBody},
		{"a call's body is the Sizer's measure of its content and recipients", testBodyOverhead},
		{"without a Sizer bodies are not measured", testUnmeasured},
		{"linger emits a call once its deadline has passed and not before", testLinger},
		{"a new call's linger starts at its own first event", testLingerPerCall},
		{"UntilNext reports the earliest deadline and nothing when no call is open", testUntilNext},
		{"a clock that goes back does not reorder deadlines", testClockBack},
		{"Flush emits every open call and forgets every content", testFlush},
		{"Add refuses events at MaxPendingEvents and accepts again after completion", testFull},
		{"Add refuses an event with no recipient, mixed kinds, no content, an unknown kind or one still pending", testAddErrors},
		{"Resolve returns an event once, with its last recipient", testResolveOnce},
		{"a single result applies to every recipient of the call", testResolveOne},
		{"a wrong number of results fails every recipient", testResolveWrongCount},
		{"a second Resolve of a call changes nothing", testResolveTwice},
		{"Attempts is the most any call of the event took", testAttempts},
		{"an event completes exactly once when calls resolve concurrently", testConcurrentResolve},
		{"memory does not grow with the number of flushed contents", testBoundedMemory},
		{"expired and full calls free their content", testContentFreed},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, tt.function)
	}
}

func testMerge(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	var calls []*testCall
	calls = mustAdd(t, b, p2p("hi", "alice"), calls)
	calls = mustAdd(t, b, p2p("hi", "bob", "carol"), calls)
	calls = mustAdd(t, b, p2p("hi", "dave"), calls)
	wantCalls(t, calls)
	if b.Open() != 1 {
		t.Fatalf("Open() = %d, want 1", b.Open())
	}
	calls = b.Flush(calls)
	wantCalls(t, calls, []string{"alice", "bob", "carol", "dave"})
}

func testDifferentContent(t *testing.T) {
	base := message.Content{Kind: message.P2P, FromAccount: "a", FromResource: "r", Msg: "m", MsgType: "t", BizType: "z", IsStore: message.StoreTrue}
	variants := []func(*message.Content){
		func(c *message.Content) { c.Kind = message.P2T },
		func(c *message.Content) { c.FromAccount = "b" },
		func(c *message.Content) { c.FromResource = "s" },
		func(c *message.Content) { c.Msg = "n" },
		func(c *message.Content) { c.MsgType = "u" },
		func(c *message.Content) { c.BizType = "y" },
		func(c *message.Content) { c.IsStore = message.StoreFalse },
		// Moving bytes between fields must not make equal hashes likely.
		func(c *message.Content) { c.FromAccount, c.FromResource = "ar", "" },
	}
	b, _ := newTestBatcher(t, testConfig{})
	mustAdd(t, b, newEvent(&base, message.Recipients{ToAccounts: []string{"1"}}), nil)
	for _, v := range variants {
		c := base
		v(&c)
		ev := newEvent(&c, message.Recipients{ToAccounts: []string{"1"}})
		if c.Kind == message.P2T {
			ev.Data.Recipients = message.Recipients{TopicIDs: []int64{1}}
		}
		mustAdd(t, b, ev, nil)
	}
	calls := b.Flush(nil)
	if len(calls) != len(variants)+1 {
		t.Fatalf("got %d calls, want %d", len(calls), len(variants)+1)
	}
	if *calls[0].Content != base {
		t.Fatalf("first call content = %+v, want %+v", *calls[0].Content, base)
	}
}

func testIsStore(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	for _, s := range []message.Store{message.StoreUnset, message.StoreFalse, message.StoreTrue, message.StoreTrue} {
		ev := p2p("hi", "alice")
		ev.Data.Content.IsStore = s
		mustAdd(t, b, ev, nil)
	}
	calls := b.Flush(nil)
	// The second StoreTrue event repeats alice, so it needs a call of its own too.
	if len(calls) != 4 {
		t.Fatalf("got %d calls, want 4", len(calls))
	}
	for i, want := range []message.Store{message.StoreUnset, message.StoreFalse, message.StoreTrue, message.StoreTrue} {
		if calls[i].Content.IsStore != want {
			t.Fatalf("call %d isStore = %d, want %d", i, calls[i].Content.IsStore, want)
		}
	}
	if calls[2].Content != calls[3].Content {
		t.Fatalf("calls of one content must share its *Content")
	}
}

func testHashCollision(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{})
	b.hash = func(*message.Content) uint64 { return 42 }
	var calls []*testCall
	calls = mustAdd(t, b, p2p("one", "alice"), calls)
	clk.Advance(10 * time.Millisecond)
	calls = mustAdd(t, b, p2p("two", "bob"), calls)
	clk.Advance(10 * time.Millisecond)
	calls = mustAdd(t, b, p2p("three", "carol"), calls)
	calls = mustAdd(t, b, p2p("two", "dave"), calls)
	calls = mustAdd(t, b, p2p("one", "erin"), calls)
	wantCalls(t, calls)
	if len(b.groups) != 1 {
		t.Fatalf("len(groups) = %d, want 1 chained entry", len(b.groups))
	}
	// The oldest content expires first: it is the tail of the chain.
	clk.Advance(30 * time.Millisecond)
	calls = b.Expired(calls)
	wantCalls(t, calls, []string{"alice", "erin"})
	if calls[0].Content.Msg != "one" {
		t.Fatalf("msg = %q, want one", calls[0].Content.Msg)
	}
	// A content in the middle of the chain can still be found and dropped.
	calls = mustAdd(t, b, p2p("three", "frank"), calls[:0])
	calls = mustAdd(t, b, p2p("two", "gina"), calls)
	clk.Advance(10 * time.Millisecond)
	calls = b.Expired(calls)
	wantCalls(t, calls, []string{"bob", "dave", "gina"})
	calls = b.Flush(calls[:0])
	wantCalls(t, calls, []string{"carol", "frank"})
	if len(b.groups) != 0 {
		t.Fatalf("len(groups) = %d after Flush, want 0", len(b.groups))
	}
}

func testRepeatInEvent(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	ev := p2p("hi", "alice", "bob", "alice", "alice", "carol", "bob")
	mustAdd(t, b, ev, nil)
	if want := []string{"alice", "bob", "carol"}; !reflect.DeepEqual(ev.Unique().ToAccounts, want) {
		t.Fatalf("Unique() = %q, want %q", ev.Unique().ToAccounts, want)
	}
	calls := b.Flush(nil)
	wantCalls(t, calls, []string{"alice", "bob", "carol"})
	// A large event takes the other path through de-duplication.
	var rs, want []string
	for i := range 100 {
		rs = append(rs, fmt.Sprint(i%40), fmt.Sprint(i%40))
		if i < 40 {
			want = append(want, fmt.Sprint(i))
		}
	}
	big := p2p("big", rs...)
	mustAdd(t, b, big, nil)
	if !reflect.DeepEqual(big.Unique().ToAccounts, want) {
		t.Fatalf("Unique() = %q, want %q", big.Unique().ToAccounts, want)
	}
	// Topic ids are de-duplicated as numbers, on both paths.
	var ids []int64
	for i := range 100 {
		ids = append(ids, int64(i%40+1), int64(i%3+1))
	}
	topics := p2t("big", ids...)
	mustAdd(t, b, topics, nil)
	if got := topics.Unique().TopicIDs; len(got) != 40 || got[0] != 1 || got[39] != 40 {
		t.Fatalf("Unique() = %v, want 1 to 40", got)
	}
	small := p2t("small", 7, 7, 9007199254740993, 7)
	mustAdd(t, b, small, nil)
	if got := small.Unique().TopicIDs; !reflect.DeepEqual(got, []int64{7, 9007199254740993}) {
		t.Fatalf("Unique() = %v, want [7 9007199254740993]", got)
	}
	if len(big.Results()) != len(want) {
		t.Fatalf("len(Results()) = %d, want %d", len(big.Results()), len(want))
	}
}

func testRepeatAcrossEvents(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	mustAdd(t, b, p2p("hi", "alice", "bob"), nil)
	mustAdd(t, b, p2p("hi", "alice", "carol"), nil)
	mustAdd(t, b, p2p("hi", "alice"), nil)
	calls := b.Flush(nil)
	wantCalls(t, calls, []string{"alice", "bob", "carol"}, []string{"alice"}, []string{"alice"})
}

func testDistinctRecipients(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 40, DistinctRecipients: true})
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprint("u", i))
	}
	ev := p2p("hi", many...)
	mustAdd(t, b, ev, nil)
	if u := ev.Unique().ToAccounts; &u[0] != &many[0] || len(u) != len(many) {
		t.Fatalf("Unique() = %q, want the event's own list", u)
	}
	// Past the scan threshold too, a recipient of the open call goes
	// into the next one.
	mustAdd(t, b, p2p("hi", "u29", "x", "u0"), nil)
	calls := b.Flush(nil)
	wantCalls(t, calls, append(many, "x"), []string{"u29", "u0"})
}

func testFirstFit(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 3})
	var calls []*testCall
	calls = mustAdd(t, b, p2p("hi", "a", "b"), calls) // call 1: a b
	calls = mustAdd(t, b, p2p("hi", "a"), calls)      // call 2: a
	calls = mustAdd(t, b, p2p("hi", "a", "c"), calls) // call 3: a; c fills call 1
	wantCalls(t, calls, []string{"a", "b", "c"})
	calls = mustAdd(t, b, p2p("hi", "d", "b"), calls[:0]) // d and b fill call 2
	wantCalls(t, calls, []string{"a", "d", "b"})
	calls = b.Flush(calls[:0])
	wantCalls(t, calls, []string{"a"})
}

func testMaxRecipients(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 3})
	calls := mustAdd(t, b, p2p("hi", "a", "b"), nil)
	wantCalls(t, calls)
	calls = mustAdd(t, b, p2p("hi", "c"), calls)
	wantCalls(t, calls, []string{"a", "b", "c"})
	if b.Open() != 0 || len(b.groups) != 0 {
		t.Fatalf("Open() = %d, groups = %d, want 0 and 0", b.Open(), len(b.groups))
	}
	if _, ok := b.UntilNext(); ok {
		t.Fatalf("UntilNext reports an open call after the only call filled")
	}
}

func testLargeEvent(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 2})
	ev := p2p("hi", "a", "b", "c", "d", "e")
	calls := mustAdd(t, b, ev, nil)
	wantCalls(t, calls, []string{"a", "b"}, []string{"c", "d"})
	calls = b.Flush(calls)
	wantCalls(t, calls, []string{"a", "b"}, []string{"c", "d"}, []string{"e"})
	var done []*testEvent
	for i := len(calls) - 1; i >= 0; i-- {
		done = append(done, calls[i].Resolve(ok(calls[i].Recipients.ToAccounts...)...)...)
	}
	if len(done) != 1 || done[0] != ev {
		t.Fatalf("completed %v, want the event once", done)
	}
	for i, r := range ev.Results() {
		if want := "pk-" + ev.Unique().ToAccounts[i]; r.PacketID != want {
			t.Fatalf("Results()[%d] = %+v, want packet %s", i, r, want)
		}
	}
}

func testBodySize(t *testing.T) {
	overhead := jsonFixed + len(`"shop"`) + len(`""`)*3 + len(`"hi"`)
	// Room for exactly two 5-letter accounts: `"aaaaa",` is 8 bytes.
	b, _ := newTestBatcher(t, testConfig{MaxBodyBytes: overhead + 16 + 7})
	var calls []*testCall
	calls = mustAdd(t, b, p2p("hi", "aaaaa", "bbbbb"), calls)
	wantCalls(t, calls)
	calls = mustAdd(t, b, p2p("hi", "ccccc"), calls)
	wantCalls(t, calls, []string{"aaaaa", "bbbbb"})
	// A shorter recipient still fits the open call.
	calls = mustAdd(t, b, p2p("hi", "d"), calls[:0])
	wantCalls(t, calls)
	calls = b.Flush(calls)
	wantCalls(t, calls, []string{"ccccc", "d"})
	for _, c := range calls {
		if c.body > b.cfg.MaxBodyBytes {
			t.Fatalf("body %d > %d", c.body, b.cfg.MaxBodyBytes)
		}
	}
}

func testLoneRecipient(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxBodyBytes: 300})
	huge := strings.Repeat("x", 400)
	var calls []*testCall
	calls = mustAdd(t, b, p2p("hi", "a"), calls)
	calls = mustAdd(t, b, p2p("hi", huge, "b"), calls)
	// The open call goes first, the huge recipient goes out alone at once.
	wantCalls(t, calls, []string{"a"}, []string{huge})
	calls = b.Flush(calls[:0])
	wantCalls(t, calls, []string{"b"})
}

func testP2TBody(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	mustAdd(t, b, p2t("hi", 123456789012345678), nil)
	calls := b.Flush(nil)
	want := jsonFixed + len(`"shop"`) + len(`""`)*3 + len(`"hi"`) + len("123456789012345678,")
	if calls[0].body != want {
		t.Fatalf("body = %d, want %d", calls[0].body, want)
	}
	if got := calls[0].Recipients.TopicIDs; !reflect.DeepEqual(got, []int64{123456789012345678}) {
		t.Fatalf("TopicIDs = %v, want the id as given", got)
	}
}

func testBodyOverhead(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	ev := p2p("<b>\"x\"\n\x01é\u2028", "a&b")
	ev.Data.Content.BizType = "biz"
	mustAdd(t, b, ev, nil)
	calls := b.Flush(nil)
	js := func(s string) int {
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return len(out)
	}
	want := jsonFixed + js("shop") + js("") + js("biz") + js("") + js(ev.Data.Content.Msg) + js("a&b") + 1
	if calls[0].body != want {
		t.Fatalf("body = %d, want %d", calls[0].body, want)
	}
}

func testUnmeasured(t *testing.T) {
	b, err := New(testConfig{MaxBodyBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	calls := mustAdd(t, b, p2p("hi", strings.Repeat("x", 100), "y"), nil)
	wantCalls(t, calls)
	calls = b.Flush(nil)
	wantCalls(t, calls, []string{strings.Repeat("x", 100), "y"})
}

func testLinger(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{Linger: 50 * time.Millisecond})
	mustAdd(t, b, p2p("hi", "a"), nil)
	clk.Advance(49 * time.Millisecond)
	if calls := b.Expired(nil); len(calls) != 0 {
		t.Fatalf("Expired before the deadline emitted %q", recipientsOf(calls))
	}
	mustAdd(t, b, p2p("hi", "b"), nil)
	clk.Advance(time.Millisecond)
	calls := b.Expired(nil)
	wantCalls(t, calls, []string{"a", "b"})
	if b.Open() != 0 || len(b.groups) != 0 {
		t.Fatalf("Open() = %d, groups = %d after Expired, want 0 and 0", b.Open(), len(b.groups))
	}
}

func testLingerPerCall(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{Linger: 50 * time.Millisecond})
	mustAdd(t, b, p2p("hi", "a"), nil)
	clk.Advance(30 * time.Millisecond)
	mustAdd(t, b, p2p("hi", "a"), nil) // second call, its own linger
	mustAdd(t, b, p2p("other", "b"), nil)
	clk.Advance(20 * time.Millisecond)
	calls := b.Expired(nil)
	wantCalls(t, calls, []string{"a"})
	if d, ok := b.UntilNext(); !ok || d != 30*time.Millisecond {
		t.Fatalf("UntilNext() = %v, %v, want 30ms, true", d, ok)
	}
	clk.Advance(30 * time.Millisecond)
	calls = b.Expired(nil)
	wantCalls(t, calls, []string{"a"}, []string{"b"})
	if !calls[0].FirstAt.Equal(calls[1].FirstAt) {
		t.Fatalf("FirstAt differ: %v and %v", calls[0].FirstAt, calls[1].FirstAt)
	}
}

func testUntilNext(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{Linger: 50 * time.Millisecond})
	if d, ok := b.UntilNext(); ok || d != 0 {
		t.Fatalf("UntilNext() = %v, %v on an empty batcher, want 0, false", d, ok)
	}
	mustAdd(t, b, p2p("one", "a"), nil)
	clk.Advance(20 * time.Millisecond)
	mustAdd(t, b, p2p("two", "a"), nil)
	if d, ok := b.UntilNext(); !ok || d != 30*time.Millisecond {
		t.Fatalf("UntilNext() = %v, %v, want 30ms, true", d, ok)
	}
	clk.Advance(time.Second)
	if d, ok := b.UntilNext(); !ok || d != 0 {
		t.Fatalf("UntilNext() = %v, %v past the deadline, want 0, true", d, ok)
	}
	b.Flush(nil)
	if _, ok := b.UntilNext(); ok {
		t.Fatalf("UntilNext reports an open call after Flush")
	}
}

func testClockBack(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{Linger: 50 * time.Millisecond})
	mustAdd(t, b, p2p("one", "a"), nil)
	first := clk.Now()
	clk.Advance(-time.Second)
	mustAdd(t, b, p2p("two", "a"), nil)
	calls := b.Flush(nil)
	if !calls[1].FirstAt.Equal(first) {
		t.Fatalf("FirstAt went back to %v, want %v", calls[1].FirstAt, first)
	}
}

func testFlush(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	mustAdd(t, b, p2p("one", "a", "b"), nil)
	mustAdd(t, b, p2p("one", "a"), nil)
	mustAdd(t, b, p2t("two", 1), nil)
	calls := b.Flush(nil)
	wantCalls(t, calls, []string{"a", "b"}, []string{"a"}, []string{"1"})
	if b.Open() != 0 || len(b.groups) != 0 {
		t.Fatalf("Open() = %d, groups = %d, want 0 and 0", b.Open(), len(b.groups))
	}
	if calls := b.Flush(nil); len(calls) != 0 {
		t.Fatalf("second Flush emitted %d calls", len(calls))
	}
}

func testFull(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxPendingEvents: 2})
	mustAdd(t, b, p2p("hi", "a"), nil)
	mustAdd(t, b, p2p("hi", "b"), nil)
	third := p2p("hi", "c")
	if _, err := addEvent(b, third, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Add at the limit: err = %v, want ErrFull", err)
	}
	calls := b.Flush(nil)
	wantCalls(t, calls, []string{"a", "b"})
	if b.Pending() != 2 {
		t.Fatalf("Pending() = %d, want 2", b.Pending())
	}
	calls[0].Resolve(ok("a", "b")...)
	if b.Pending() != 0 {
		t.Fatalf("Pending() = %d after Resolve, want 0", b.Pending())
	}
	mustAdd(t, b, third, nil)
}

func testAddErrors(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	if _, err := addEvent(b, p2p("hi"), nil); err == nil {
		t.Fatalf("Add accepted an event with no recipient")
	}
	mixed := p2p("hi", "a")
	mixed.Data.Recipients.TopicIDs = []int64{1}
	if _, err := addEvent(b, mixed, nil); err == nil {
		t.Fatalf("Add accepted a p2p event with topic ids")
	}
	if _, err := addEvent(b, newEvent(nil, message.Recipients{ToAccounts: []string{"a"}}), nil); err == nil {
		t.Fatalf("Add accepted an event with no content")
	}
	bad := p2p("hi", "a")
	bad.Data.Content.Kind = "p2x"
	if _, err := addEvent(b, bad, nil); err == nil {
		t.Fatalf("Add accepted kind p2x")
	}
	ev := p2p("hi", "a")
	mustAdd(t, b, ev, nil)
	if _, err := addEvent(b, ev, nil); err == nil {
		t.Fatalf("Add accepted an event that is still pending")
	}
	if b.Pending() != 1 || b.Open() != 1 {
		t.Fatalf("Pending() = %d, Open() = %d, want 1 and 1", b.Pending(), b.Open())
	}
	// Once complete, the same Event may be added again.
	b.Flush(nil)[0].Resolve(ok("a")...)
	mustAdd(t, b, ev, nil)
}

func testResolveOnce(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 2})
	e1 := p2p("hi", "a", "b", "c")
	e2 := p2p("hi", "c", "d")
	var calls []*testCall
	calls = mustAdd(t, b, e1, calls)
	calls = mustAdd(t, b, e2, calls)
	calls = b.Flush(calls)
	wantCalls(t, calls, []string{"a", "b"}, []string{"c", "d"}, []string{"c"})
	if done := calls[2].Resolve(ok("c")...); len(done) != 0 {
		t.Fatalf("third call completed %d events, want 0", len(done))
	}
	if done := calls[0].Resolve(ok("a", "b")...); len(done) != 0 {
		t.Fatalf("first call completed %d events, want 0", len(done))
	}
	if done := calls[1].Resolve(ok("c", "d")...); !reflect.DeepEqual(done, []*testEvent{e1, e2}) {
		t.Fatalf("second call completed %v, want e1 and e2", done)
	}
	if b.Pending() != 0 {
		t.Fatalf("Pending() = %d, want 0", b.Pending())
	}
}

func testResolveOne(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	e1, e2 := p2p("hi", "a", "b"), p2p("hi", "c")
	mustAdd(t, b, e1, nil)
	mustAdd(t, b, e2, nil)
	boom := errors.New("boom")
	done := b.Flush(nil)[0].Resolve(Result{Err: boom, Attempts: 3})
	if len(done) != 2 {
		t.Fatalf("completed %d events, want 2", len(done))
	}
	for _, ev := range []*testEvent{e1, e2} {
		for _, r := range ev.Results() {
			if !errors.Is(r.Err, boom) || r.Attempts != 3 {
				t.Fatalf("result %+v, want boom after 3 attempts", r)
			}
		}
	}
}

func testResolveWrongCount(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	ev := p2p("hi", "a", "b", "c")
	mustAdd(t, b, ev, nil)
	done := b.Flush(nil)[0].Resolve(ok("a", "b")...)
	if len(done) != 1 {
		t.Fatalf("completed %d events, want 1", len(done))
	}
	for _, r := range ev.Results() {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "2 results for a call of 3") {
			t.Fatalf("result %+v, want an error about the count", r)
		}
	}
}

func testResolveTwice(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{})
	ev := p2p("hi", "a")
	mustAdd(t, b, ev, nil)
	c := b.Flush(nil)[0]
	if done := c.Resolve(ok("a")...); len(done) != 1 {
		t.Fatalf("first Resolve completed %d events, want 1", len(done))
	}
	if done := c.Resolve(Result{Err: errors.New("late")}); done != nil {
		t.Fatalf("second Resolve completed %v", done)
	}
	if ev.Results()[0].PacketID != "pk-a" || b.Pending() != 0 {
		t.Fatalf("second Resolve changed the result to %+v or Pending() to %d", ev.Results()[0], b.Pending())
	}
}

func testAttempts(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 1})
	ev := p2p("hi", "a", "b", "c")
	calls := mustAdd(t, b, ev, nil)
	calls[0].Resolve(Result{PacketID: "1", Attempts: 2})
	calls[1].Resolve(Result{PacketID: "2", Attempts: 5})
	calls[2].Resolve(Result{PacketID: "3", Attempts: 1})
	if ev.Attempts() != 5 {
		t.Fatalf("Attempts() = %d, want 5", ev.Attempts())
	}
}

func testConcurrentResolve(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 3, MaxPendingEvents: 1 << 20})
	const events = 2000
	work := make(chan *testCall, 64)
	completed := make(chan *testEvent, events)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for c := range work {
				for _, ev := range c.Resolve(ok(c.Recipients.ToAccounts...)...) {
					completed <- ev
				}
				_ = b.Pending()
			}
		})
	}
	evs := make([]*testEvent, events)
	var calls []*testCall
	for i := range evs {
		evs[i] = p2p(fmt.Sprint("m", i%7), fmt.Sprint(i%5), fmt.Sprint(i%11), fmt.Sprint(i%13))
		calls = mustAdd(t, b, evs[i], calls[:0])
		for _, c := range calls {
			work <- c
		}
	}
	for _, c := range b.Flush(calls[:0]) {
		work <- c
	}
	close(work)
	wg.Wait()
	close(completed)
	seen := map[*testEvent]int{}
	for ev := range completed {
		seen[ev]++
	}
	for i, ev := range evs {
		if seen[ev] != 1 {
			t.Fatalf("event %d completed %d times", i, seen[ev])
		}
		for j, r := range ev.Results() {
			if r.PacketID != "pk-"+ev.Unique().ToAccounts[j] {
				t.Fatalf("event %d result %d = %+v", i, j, r)
			}
		}
	}
	if b.Pending() != 0 {
		t.Fatalf("Pending() = %d, want 0", b.Pending())
	}
}

func testBoundedMemory(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxPendingEvents: 1 << 20})
	var calls []*testCall
	for i := range 100_000 {
		calls = mustAdd(t, b, p2p(fmt.Sprint("msg ", i), "alice"), calls)
		if i%10_000 == 9_999 {
			calls = b.Flush(calls)
		}
	}
	calls = b.Flush(calls)
	if len(calls) != 100_000 {
		t.Fatalf("got %d calls, want 100000", len(calls))
	}
	if len(b.groups) != 0 || b.Open() != 0 || b.head != nil || b.tail != nil {
		t.Fatalf("state left after Flush: %d groups, %d open", len(b.groups), b.Open())
	}
	for _, c := range calls {
		c.Resolve(Result{PacketID: "p"})
	}
	if b.Pending() != 0 {
		t.Fatalf("Pending() = %d, want 0", b.Pending())
	}
}

func testContentFreed(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{MaxRecipients: 2})
	for i := range 1000 {
		mustAdd(t, b, p2p(fmt.Sprint("full ", i), "a", "b"), nil)
		mustAdd(t, b, p2p(fmt.Sprint("linger ", i), "a"), nil)
	}
	if len(b.groups) != 1000 {
		t.Fatalf("len(groups) = %d, want 1000 lingering contents", len(b.groups))
	}
	clk.Advance(time.Second)
	if calls := b.Expired(nil); len(calls) != 1000 {
		t.Fatalf("Expired emitted %d calls, want 1000", len(calls))
	}
	if len(b.groups) != 0 {
		t.Fatalf("len(groups) = %d after Expired, want 0", len(b.groups))
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		scenario string
		cfg      testConfig
		field    string
	}{
		{"a negative MaxRecipients is refused", testConfig{MaxRecipients: -1}, "MaxRecipients"},
		{"a negative Linger is refused", testConfig{Linger: -time.Millisecond}, "Linger"},
		{"a negative MaxBodyBytes is refused", testConfig{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"a negative MaxPendingEvents is refused", testConfig{MaxPendingEvents: -1}, "MaxPendingEvents"},
		{"zero values take the defaults", testConfig{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			b, err := New(tt.cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := testConfig{MaxRecipients: 100, Linger: 50 * time.Millisecond, MaxBodyBytes: 512 << 10, MaxPendingEvents: 10000}
				got := b.cfg
				if got.Now == nil || got.Size == nil {
					t.Fatalf("Now or Size is nil")
				}
				got.Now, got.Size = nil, nil
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("config = %+v, want %+v", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("New: err = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func testKindMaxRecipients(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 4, KindMaxRecipients: map[message.Kind]int{message.P2T: 2}})
	calls := mustAdd(t, b, p2t("m", 1, 2, 3), nil)
	wantCalls(t, calls, []string{"1", "2"})
	calls = mustAdd(t, b, p2p("m", "a", "b", "c"), nil)
	wantCalls(t, calls)
	calls = mustAdd(t, b, p2p("m", "d", "e"), nil)
	wantCalls(t, calls, []string{"a", "b", "c", "d"})
}

// input is a test's event as its producer has it: the content and
// recipients Add is given. The batcher's part points back to it.
type input struct {
	Content    *message.Content
	Recipients message.Recipients
}

type (
	testEvent   = Event[*input]
	testCall    = Call[*input]
	testBatcher = Batcher[*input]
	testConfig  = Config[*input]
)

func newEvent(c *message.Content, rs message.Recipients) *testEvent {
	return &testEvent{Data: &input{Content: c, Recipients: rs}}
}

// addEvent adds ev with its content and recipients.
func addEvent(b *testBatcher, ev *testEvent, dst []*testCall) ([]*testCall, error) {
	return b.Add(ev, ev.Data.Content, ev.Data.Recipients, dst)
}
