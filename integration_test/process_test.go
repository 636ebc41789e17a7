package integration_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/internal/syncbuf"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds mimc-bridge once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mimc-bridge-it-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mimc-bridge")
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", binPath, "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return binPath
}

// proc is the built binary running as a child process.
type proc struct {
	cmd    *exec.Cmd
	output *syncbuf.Buffer
	done   chan struct{}
	state  *os.ProcessState
}

// envOf turns settings into the binary's environment.
func envOf(cfg config.Config) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"MIMC_BRIDGE_KAFKA_BROKERS=" + strings.Join(cfg.KafkaBrokers, ","),
		"MIMC_BRIDGE_KAFKA_TOPICS=" + strings.Join(cfg.KafkaTopics, ","),
		"MIMC_BRIDGE_KAFKA_GROUP_ID=" + cfg.KafkaGroupID,
		"MIMC_BRIDGE_RESULTS_TOPIC=" + cfg.ResultsTopic,
		"MIMC_BRIDGE_MIMC_URL=" + cfg.MIMCURL,
		"MIMC_BRIDGE_MIMC_APP_ID=" + cfg.MIMCAppID,
		"MIMC_BRIDGE_MIMC_APP_KEY=" + cfg.MIMCAppKey,
		"MIMC_BRIDGE_MIMC_APP_SECRET=" + cfg.MIMCAppSecret.Reveal(),
		"MIMC_BRIDGE_HTTP_ADDR=" + cfg.HTTPAddr,
		"MIMC_BRIDGE_BATCH_MAX_RECIPIENTS=" + fmt.Sprint(cfg.BatchMaxRecipients),
		"MIMC_BRIDGE_BATCH_LINGER=" + cfg.BatchLinger.String(),
		"MIMC_BRIDGE_MAX_CONCURRENT_CALLS=" + fmt.Sprint(cfg.MaxConcurrentCalls),
		"MIMC_BRIDGE_MAX_PENDING_EVENTS=" + fmt.Sprint(cfg.MaxPendingEvents),
		"MIMC_BRIDGE_HTTP_TIMEOUT=" + cfg.HTTPTimeout.String(),
		"MIMC_BRIDGE_RETRY_MAX_ELAPSED=" + cfg.RetryMaxElapsed.String(),
		"MIMC_BRIDGE_SHUTDOWN_TIMEOUT=" + cfg.ShutdownTimeout.String(),
		"MIMC_BRIDGE_LOG_LEVEL=" + cfg.LogLevel,
		"MIMC_BRIDGE_KAFKA_SESSION_TIMEOUT=" + cfg.KafkaSessionTimeout.String(),
	}
	return env
}

// startProc starts the binary's run command with cfg.
func startProc(t *testing.T, cfg config.Config) *proc {
	t.Helper()
	p := &proc{output: &syncbuf.Buffer{}, done: make(chan struct{})}
	// The test ends the process itself (SIGTERM, SIGKILL) and checks how it
	// ended: no context may kill it first.
	p.cmd = exec.CommandContext(context.Background(), binary(t), "run")
	p.cmd.Env = envOf(cfg)
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the bridge: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.output.String(), appSecret) {
			t.Errorf("the app secret appears in the process output")
		}
	})
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and returns the exit code.
func (p *proc) term(t *testing.T) int {
	t.Helper()
	// A signal that arrives before main has installed its handler kills
	// the process outright; the first log line comes after it.
	waitFor(t, 10*time.Second, "the bridge's first log line", func() bool {
		return strings.Contains(p.output.String(), "starting mimc-bridge")
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the bridge did not exit within 60s of SIGTERM\n%s", tail(p.output.String(), 30))
	}
	return p.state.ExitCode()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
