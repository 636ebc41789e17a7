package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/termtext"
)

const hostileID = "a\x1b[31mRED\x1b[0m\x1b]0;pwned\a"

func TestTheOutcomeTableAlignsByDisplayWidth(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	p := newOutcomePrinter(&buf, false)
	for _, id := range []string{"order-1", "订单-一二三", "ｆｕｌｌｗｉｄｔｈ", "e\u0301te\u0301"} {
		p.print(&event.Outcome{ID: id, Status: event.Delivered, Kind: event.P2P, Attempts: 1, ReceivedAt: at, CompletedAt: at.Add(time.Millisecond),
			Recipients: []event.Recipient{{ToAccount: "a", PacketID: "p"}}}, nil)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 rows:\n%s", buf.String())
	}
	// The STATUS column starts at the same terminal column on every row.
	col := func(line, word string) int { return termtext.Width(line[:strings.Index(line, word)]) }
	want := col(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if got := col(l, "delivered"); got != want {
			t.Errorf("STATUS at column %d, the header's at %d: %q", got, want, l)
		}
	}
}

func TestEventTextIsEscapedWhereverItReachesTheTerminal(t *testing.T) {
	o := &event.Outcome{ID: hostileID, Status: event.Failed + "\x1b[2J", Kind: event.P2P, Error: "no\nforged line",
		Recipients: []event.Recipient{{ToAccount: "a"}}}
	var table, live bytes.Buffer
	newOutcomePrinter(&table, false).print(o, nil)
	d := &demoRun{out: &lockedWriter{w: &live}}
	d.printLive(o)
	counts := statusCounts{}
	counts.add(o.Status)
	for _, c := range []struct {
		name  string
		out   string
		lines int
	}{{"table", table.String(), 2}, {"live line", live.String(), 1}, {"counts", counts.String() + "\n", 1}} {
		if strings.ContainsAny(c.out, "\x1b\a") || strings.Count(c.out, "\n") != c.lines {
			t.Errorf("%s lets control characters through: %q", c.name, c.out)
		}
	}
	if !strings.Contains(live.String(), `outcome: a\x1b[31mRED\x1b[0m\x1b]0;pwned\x07 failed\x1b[2J p2p recipients 0/1: no\nforged line`) {
		t.Errorf("live line %q", live.String())
	}
}

func TestTheDemoPastesCommandsTheWayTheProgramWasRun(t *testing.T) {
	tests := []struct{ arg0, want string }{
		{"/tmp/go-build2993/b001/exe/mimc-bridge", "go run ."},
		{"/root/.cache/go-build/b1/b15aaba0f7fe45a89c2a689a788a4e5e4945954f694105fc4a260c9ff9928367-d/mimc-bridge", "go run ."},
		{"/home/ann/go-build-tools/mimc-bridge", "/home/ann/go-build-tools/mimc-bridge"},
		{"./mimc-bridge", "./mimc-bridge"},
		{"mimc-bridge", "mimc-bridge"},
		{"/usr/local/bin/mimc-bridge", "/usr/local/bin/mimc-bridge"},
		{"", "mimc-bridge"},
	}
	for _, tt := range tests {
		if got := progName(tt.arg0); got != tt.want {
			t.Errorf("progName(%q) = %q, want %q", tt.arg0, got, tt.want)
		}
	}
}

func TestTheDemoCountsMIMCCallsFromTheBridgesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_mimc_calls_total"}, []string{"endpoint", "code"})
	recipients := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_mimc_recipients_total"}, []string{"endpoint", "code"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_commits_total"})
	reg.MustRegister(calls, recipients, other)
	calls.WithLabelValues("p2p/more", "200").Add(3)
	calls.WithLabelValues("p2t/", "http_500").Add(1)
	recipients.WithLabelValues("p2p/more", "200").Add(30)
	recipients.WithLabelValues("p2t/", "http_500").Add(1)
	other.Add(99)
	c, r, err := callCounters(reg)
	if err != nil || c != 4 || r != 31 {
		t.Errorf("callCounters = %v calls, %v recipients, %v; want 4, 31", c, r, err)
	}
}
