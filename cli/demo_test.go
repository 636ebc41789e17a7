package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/syncbuf"
)

// demoProc is a demo running in process.
type demoProc struct {
	stdout, stderr *syncbuf.Buffer
	stop           context.CancelFunc // Ctrl-C
	done           chan struct{}      // closed when it returned
	code           int
}

// demo runs `mimc-bridge demo args...` in process until it ends or the test
// does.
func demo(t *testing.T, args ...string) *demoProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &demoProc{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, stop: cancel, done: make(chan struct{})}
	logFile := filepath.Join(t.TempDir(), "bridge.log")
	go func() {
		defer close(p.done)
		p.code = cli.Main(ctx, append([]string{"demo", "--log-file", logFile}, args...), cli.Streams{Out: p.stdout, Err: p.stderr})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(40 * time.Second):
			t.Errorf("the demo did not stop within 40s of Ctrl-C")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("demo stdout:\n%s\nstderr:\n%s\nbridge log (tail):\n%s", p.stdout, p.stderr, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// wait returns the demo's exit code once it ends.
func (p *demoProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("the demo did not end within %s", d)
		return 0
	}
}

func TestDemoEndsOnceEveryOutcomeArrived(t *testing.T) {
	p := demo(t, "--events", "300", "--spread", "500ms", "--deadline", "40s")
	if code := p.wait(t, 50*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, want := range []string{
		"outcomes 300/300", "all 300 outcomes arrived",
		"MIMC calls", "p2p/more", "p2t/more", "recipients per call", "avg", "max",
		"produce -> outcome", "p50", "p99", "bridge logs", "URGENT_TOPICS=mimc.push.urgent", "urgent events",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	// The summary: each status as often as the samples predict.
	for _, st := range []string{event.Delivered, event.Failed, event.Expired, event.Rejected, event.Duplicate} {
		m := regexp.MustCompile(`(?m)^  ` + st + ` +(\d+) +(\d+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("no %s row in the summary:\n%s", st, out)
		} else if m[1] != m[2] || m[1] == "0" {
			t.Errorf("%s: %s events, %s expected", st, m[1], m[2])
		}
	}
	if !regexp.MustCompile(`(?m)^  total +300 +300$`).MatchString(out) {
		t.Errorf("no total row of 300:\n%s", out)
	}
	// A conversation in order, a duplicate suppressed: 300 samples hold 15
	// chat messages (5 conversations of 3) and 15 copies of delivered ids.
	if !strings.Contains(out, "ORDERED_TOPICS=mimc.push: 5 support chats") || !strings.Contains(out, "DEDUP_WINDOW=10m") {
		t.Errorf("the header does not name ORDERED_TOPICS and DEDUP_WINDOW:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^  conversations +15 chat messages in 5 conversations \(up to 3 each\) reached MIMC in order, retries included \(ORDERED_TOPICS=mimc\.push\)$`).MatchString(out) {
		t.Errorf("no line saying the conversations reached MIMC in order:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^  duplicates +15 copies of a delivered id \(a producer's retry\): 15 ended duplicate \(DEDUP_WINDOW=10m0s\), each id pushed once$`).MatchString(out) {
		t.Errorf("no line saying the 15 copies ended duplicate and were not pushed again:\n%s", out)
	}
	if strings.Contains(out, `"level"`) || strings.Contains(p.stderr.String(), `"level"`) {
		t.Errorf("bridge log lines leak into the demo's output")
	}
}

func TestDemoShowsAQuota(t *testing.T) {
	p := demo(t, "--events", "100", "--spread", "0", "--deadline", "40s", "--mimc-quota", "300")
	if code := p.wait(t, 50*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr)
	}
	out := p.stdout.String()
	for _, want := range []string{"MIMC quota", "300 recipients/s of each kind", "RATE_P2P=300 RATE_P2T=300", "all 100 outcomes arrived"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`quota +p2p (\d+) recipients accepted, (\d+) calls refused; p2t (\d+) accepted, (\d+) refused`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no quota line in the summary:\n%s", out)
	}
	if m[1] == "0" || m[3] == "0" {
		t.Errorf("the quota counted no recipients: %s", m[0])
	}
}

func TestTheDemoWaitsOnThePortItWasGivenWhenHTTPAddrAsksForAFreeOne(t *testing.T) {
	p := demo(t, "--events", "20", "--spread", "0", "--deadline", "30s", "--http-addr", "127.0.0.1:0")
	if code := p.wait(t, 50*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr)
	}
	m := regexp.MustCompile(`http://127\.0\.0\.1:(\d+)/metrics`).FindStringSubmatch(p.stdout.String())
	if m == nil || m[1] == "0" {
		t.Errorf("the header names %v, want the bound port:\n%s", m, p.stdout)
	}
}

func TestTheDemoDoesNotReadTheKafkaSettingsItIgnores(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-ca.pem")
	p := demo(t, "--events", "20", "--spread", "0", "--deadline", "30s",
		"--kafka-tls", "--kafka-tls-ca-file", missing, "--kafka-sasl-mechanism", "plain")
	if code := p.wait(t, 50*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr)
	}
	for _, name := range []string{"KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_SASL_MECHANISM"} {
		if !strings.Contains(p.stderr.String(), "note: MIMC_BRIDGE_"+name+" is ignored") {
			t.Errorf("no note that %s is ignored: %q", name, p.stderr)
		}
	}
}

func TestTheDemoRefusesBadSettingsBeforeStartingAnything(t *testing.T) {
	code, stdout, stderr := run(t, "", "demo", "--batch-linger=-1s", "--log-level", "loud")
	if code != cli.ExitUsage || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	for _, want := range []string{"mimc-bridge demo: invalid settings:", "BATCH_LINGER", "LOG_LEVEL"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, stderr)
		}
	}
}

func TestTheDemoRefusesATopicListedTwice(t *testing.T) {
	for _, args := range [][]string{
		{"--kafka-topics", "mimc.push,mimc.push"},
		{"--kafka-topics", "mimc.push,mimc.otp", "--urgent-topics", "mimc.otp,mimc.otp"},
	} {
		code, stdout, stderr := run(t, "", append([]string{"demo"}, args...)...)
		if code != cli.ExitUsage || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, stdout)
		}
		if !strings.Contains(stderr, "mimc-bridge demo: invalid settings:") || !strings.Contains(stderr, "is listed more than once") {
			t.Errorf("%q: stderr %q; want the setting and the repeated topic named", args, stderr)
		}
	}
}

func TestDemoFailsClearlyWhenOutcomesDoNotArrive(t *testing.T) {
	// Every MIMC call hangs past the deadline: no outcome can arrive.
	// No MIMC answers (nothing listens on the discard port): no outcome
	// can arrive before the retries run out.
	p := demo(t, "--events", "20", "--spread", "0", "--deadline", "3s", "--shutdown-timeout", "2s",
		"--mimc-url", "http://127.0.0.1:9", "--mimc-app-id", "1", "--mimc-app-key", "k", "--mimc-app-secret", "s3cret-of-the-tests",
		"--retry-max-elapsed", "1m")
	if code := p.wait(t, 30*time.Second); code != cli.ExitFailed {
		t.Fatalf("exit %d without the outcomes, want 1", code)
	}
	if !regexp.MustCompile(`only \d+ of 20 outcomes arrived within 3s`).MatchString(p.stderr.String()) {
		t.Errorf("stderr: %q", p.stderr)
	}
}

func TestDemoKeepServesKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: run .ci/run, which installs it (Debian package kcat)")
	}
	in := fmt.Sprintf("push-%d", rand.Int64())
	results := fmt.Sprintf("results-%d", rand.Int64())
	p := demo(t, "--keep", "--events", "40", "--spread", "0", "--deadline", "30s",
		"--kafka-topics", in, "--results-topic", results)
	var addr string
	readCmd := regexp.MustCompile(`kcat -C -b (\S+) -t ` + regexp.QuoteMeta(results) + ` -o beginning -e`)
	waitFor(t, 40*time.Second, "the --keep instructions", func() bool {
		if m := readCmd.FindStringSubmatch(p.stdout.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case <-p.done:
			t.Fatalf("the demo ended with %d before printing its --keep instructions: %s", p.code, p.stderr)
		default:
		}
		return false
	})
	if !strings.Contains(p.stdout.String(), "| kcat -P -b "+addr+" -t "+in) {
		t.Errorf("no kcat produce command for %s:\n%s", addr, p.stdout)
	}

	// Produce with kcat: key and value separated by '|'.
	tag := fmt.Sprintf("kcat-%d", rand.Int64N(1e9))
	events := strings.Join([]string{
		tag + `-a|{"id":"` + tag + `-a","fromAccount":"shop","toAccount":"alice","msg":"Hello from kcat"}`,
		tag + `-b|{"id":"` + tag + `-b","fromAccount":"forum","topicIds":[1001,"9007199254740993"],"msg":"Hello topics"}`,
		tag + `-c|{"id":"` + tag + `-c","fromAccount":"shop","msg":"no recipient"}`,
	}, "\n") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prod := exec.CommandContext(ctx, kcat, "-P", "-b", addr, "-t", in, "-K", "|")
	prod.Stdin = strings.NewReader(events)
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}

	// Read the outcomes back with kcat.
	want := map[string]string{tag + "-a": event.Delivered, tag + "-b": event.Delivered, tag + "-c": event.Rejected}
	var got map[string]event.Outcome
	waitFor(t, 30*time.Second, "kcat to read the three outcomes", func() bool {
		cons := exec.CommandContext(ctx, kcat, "-C", "-b", addr, "-t", results, "-o", "beginning", "-e", "-q")
		var out bytes.Buffer
		cons.Stdout = &out
		if err := cons.Run(); err != nil {
			t.Logf("kcat -C: %v", err)
			return false
		}
		got = map[string]event.Outcome{}
		for _, line := range strings.Split(out.String(), "\n") {
			if line == "" {
				continue
			}
			o, err := event.ParseOutcome([]byte(line))
			if err != nil {
				t.Fatalf("kcat read a line that is not an outcome: %v: %s", err, line)
			}
			if _, ok := want[o.ID]; ok {
				got[o.ID] = o
			}
		}
		return len(got) == len(want)
	})
	for id, st := range want {
		if got[id].Status != st {
			t.Errorf("%s: status %s, want %s (%s)", id, got[id].Status, st, got[id].Error)
		}
	}
	if b := got[tag+"-b"]; len(b.Recipients) != 2 || b.Recipients[1].TopicID != "9007199254740993" {
		t.Errorf("p2t outcome recipients %+v", b.Recipients)
	}
	waitFor(t, 10*time.Second, "the demo to show the kcat outcomes", func() bool {
		return strings.Contains(p.stdout.String(), "outcome: "+tag+"-a delivered")
	})

	p.stop()
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Errorf("exit %d after Ctrl-C: %s", code, p.stderr)
	}
}
