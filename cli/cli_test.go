package cli_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mimc-bridge/mimc-bridge/cli"
)

// commandNames are every command mimc-bridge has.
var commandNames = []string{"run", "demo", "outcomes", "send", "config", "version"}

func TestHelpListsTheCommandsOneLineEach(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, "", args...)
			if code != cli.ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, name := range commandNames {
				if n := strings.Count(stdout, "\n  "+name+" "); n != 1 {
					t.Errorf("command %s is listed %d times:\n%s", name, n, stdout)
				}
			}
			if !strings.Contains(stdout, "mimc-bridge <command> --help") {
				t.Errorf("the help does not say how to see a command's flags:\n%s", stdout)
			}
			if strings.Contains(stdout, "--kafka-brokers") || strings.Count(stdout, "\n") > 20 {
				t.Errorf("the help lists flags instead of commands:\n%s", stdout)
			}
		})
	}
}

func TestACommandsHelpListsTheFlagsThatApplyToIt(t *testing.T) {
	tests := []struct {
		args          []string
		want, notWant []string
	}{
		{[]string{"run", "--help"}, []string{"--kafka-brokers", "--batch-linger", "--mimc-app-id", "--http-addr"}, nil},
		{[]string{"help", "run"}, []string{"usage: mimc-bridge run", "--kafka-brokers"}, nil},
		{[]string{"demo", "-h"}, []string{"--events", "--keep", "--batch-linger"}, nil},
		{[]string{"send", "--help"},
			[]string{"--from-account", "--kafka-brokers", "--kafka-topics", "--kafka-sasl-password", "--max-msg-bytes", "--from-resource"},
			[]string{"--batch-linger", "--mimc-app-id", "--http-addr", "--results-topic", "--stall-timeout"}},
		{[]string{"outcomes", "--help"},
			[]string{"--status", "--follow", "--kafka-brokers", "--kafka-tls", "--results-topic"},
			[]string{"--batch-linger", "--mimc-app-id", "--http-addr", "--kafka-topics", "--max-msg-bytes"}},
		{[]string{"config", "--help"}, []string{"--for", "--kafka-brokers", "--stall-timeout"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, "", tt.args...)
			if code != cli.ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, "  "+w) && !strings.Contains(stdout, "usage: "+strings.TrimPrefix(w, "usage: ")) {
					t.Errorf("lacks %s:\n%s", w, stdout)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(stdout, w+"\n") || strings.Contains(stdout, w+" ") {
					t.Errorf("lists %s, which does not apply:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := run(t, "", args...)
		if code != cli.ExitOK || stdout != "mimc-bridge "+cli.Version+"\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestABadCommandLineIsOneLineThatPointsAtHelp(t *testing.T) {
	for _, name := range commandNames {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", name, "--no-such-flag")
			want := "mimc-bridge " + name + ": flag provided but not defined: -no-such-flag\nsee 'mimc-bridge " + name + " --help'\n"
			if code != cli.ExitUsage || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, want)
			}
		})
	}
	t.Run("an unknown command", func(t *testing.T) {
		code, _, stderr := run(t, "", "frobnicate")
		if code != cli.ExitUsage || stderr != "mimc-bridge: unknown command \"frobnicate\"\nsee 'mimc-bridge --help'\n" {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestBadSettingsExitTwoForEveryCommand(t *testing.T) {
	clearSettings(t)
	for _, name := range []string{"run", "demo", "outcomes", "send", "config"} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, "", name, "--kafka-tls=maybe")
			if code != cli.ExitUsage || !strings.Contains(stderr, "MIMC_BRIDGE_KAFKA_TLS (--kafka-tls): must be true or false") {
				t.Errorf("exit %d, stderr %q; want 2 naming the setting", code, stderr)
			}
		})
	}
	t.Run("config with a bad duration", func(t *testing.T) {
		code, _, stderr := run(t, "", "config", "--batch-linger", "5")
		if code != cli.ExitUsage || !strings.Contains(stderr, "BATCH_LINGER") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestConfigForRunChecksWhatRunNeeds(t *testing.T) {
	clearSettings(t)
	code, stdout, stderr := run(t, "", "config")
	if code != cli.ExitOK || !strings.Contains(stdout, "KAFKA_BROKERS=\n") || !strings.Contains(stderr, "valid, but `run` also needs") {
		t.Errorf("config with nothing set: exit %d, stderr %q; want 0 and a note", code, stderr)
	}
	code, _, stderr = run(t, "", "config", "--for", "run")
	if code != cli.ExitUsage {
		t.Errorf("config --for run with nothing set: exit %d, want 2", code)
	}
	for _, missing := range []string{"KAFKA_BROKERS", "MIMC_APP_ID", "MIMC_APP_KEY", "MIMC_APP_SECRET"} {
		if !strings.Contains(stderr, missing) {
			t.Errorf("config --for run does not name %s: %q", missing, stderr)
		}
	}
	code, _, stderr = run(t, "", "config", "--for", "run", "--kafka-brokers", "k:9092",
		"--mimc-app-id", "1", "--mimc-app-key", "k", "--mimc-app-secret", "s3cret-of-the-tests")
	if code != cli.ExitOK || stderr != "" {
		t.Errorf("config --for run with everything: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "", "config", "--for", "demo")
	if code != cli.ExitUsage || !strings.Contains(stderr, "--for") {
		t.Errorf("config --for demo: exit %d, stderr %q", code, stderr)
	}
}

func TestAnEmptyHTTPAddrInTheEnvironmentMeansNoHTTPServer(t *testing.T) {
	clearSettings(t)
	t.Setenv("MIMC_BRIDGE_HTTP_ADDR", "")
	code, stdout, stderr := run(t, "", "config")
	if code != cli.ExitOK || !strings.Contains(stdout, "\nHTTP_ADDR=\n") {
		t.Errorf("exit %d, stderr %q, settings:\n%s", code, stderr, stdout)
	}
}

func TestTheDemosRangeErrorNamesTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--events", "0"}, "--events must be at least 1, got 0"},
		{[]string{"--partitions", "0"}, "--partitions must be at least 1, got 0"},
		{[]string{"--deadline", "0s"}, "--deadline must be positive, got 0s"},
		{[]string{"--mimc-quota", "-1"}, "--mimc-quota must be a number >= 0, got -1"},
		{[]string{"--spread", "-1s"}, "--spread must not be negative, got -1s"},
		{[]string{"--broker-port", "70000"}, "--broker-port must be 0 (a free port) to 65535, got 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			code, _, stderr := run(t, "", append([]string{"demo"}, tt.args...)...)
			if code != cli.ExitUsage || !strings.Contains(stderr, "mimc-bridge demo: "+tt.want+"\n") || strings.Count(stderr, " must ") != 1 {
				t.Errorf("exit %d, stderr %q; want 2 and only %q", code, stderr, tt.want)
			}
		})
	}
}

// clearSettings unsets, for the test, every MIMC_BRIDGE_ variable of the
// environment it runs in.
func clearSettings(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MIMC_BRIDGE_") {
			t.Setenv(k, "")
		}
	}
}

func TestEveryCommandWarnsOncePerUnknownVariableNamingTheClosestSetting(t *testing.T) {
	clearSettings(t)
	t.Setenv("MIMC_BRIDGE_KAFKA_TOPIC", "orders")
	t.Setenv("MIMC_BRIDGE_RATE_P2p", "500")
	t.Setenv("MIMC_BRIDGE_IT_KAFKA_VERSION", "4.1.0") // the integration tests' harness: not a setting
	wants := []string{
		"warning: MIMC_BRIDGE_KAFKA_TOPIC is not a setting and is ignored: did you mean MIMC_BRIDGE_KAFKA_TOPICS?",
		"warning: MIMC_BRIDGE_RATE_P2p is not a setting and is ignored: did you mean MIMC_BRIDGE_RATE_P2P?",
	}
	check := func(t *testing.T, stderr string) {
		t.Helper()
		for _, want := range wants {
			if n := strings.Count(stderr, want); n != 1 {
				t.Errorf("stderr has %q %d times, want once: %q", want, n, stderr)
			}
		}
		if strings.Contains(stderr, "orders") || strings.Contains(stderr, "500") || strings.Contains(stderr, "MIMC_BRIDGE_IT_") {
			t.Errorf("stderr shows a value or a harness variable: %q", stderr)
		}
	}
	for _, name := range []string{"run", "demo", "outcomes", "send", "replay", "config"} {
		t.Run(name+" with a bad setting", func(t *testing.T) {
			code, _, stderr := run(t, "", name, "--kafka-tls=maybe")
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			check(t, stderr)
		})
	}
	t.Run("config with good settings warns and exits 0", func(t *testing.T) {
		code, _, stderr := run(t, "", "config")
		if code != cli.ExitOK {
			t.Errorf("exit %d, want 0: %q", code, stderr)
		}
		check(t, stderr)
	})
	t.Run("config --for run exits 2", func(t *testing.T) {
		code, _, stderr := run(t, "", "config", "--for", "run", "--kafka-brokers", "k:9092",
			"--mimc-app-id", "1", "--mimc-app-key", "k", "--mimc-app-secret", "s3cret-of-the-tests")
		if code != cli.ExitUsage || !strings.Contains(stderr, "`run` would ignore 2 environment variable(s) that are not settings") {
			t.Errorf("exit %d, stderr %q; want 2", code, stderr)
		}
		check(t, stderr)
	})
	t.Run("run logs them in the log's format", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // stop at once: only the start-up lines matter
		var out, errb bytes.Buffer
		cli.Main(ctx, []string{"run", "--kafka-brokers", "127.0.0.1:9", "--mimc-app-id", "1", "--mimc-app-key", "k",
			"--mimc-app-secret", "s3cret-of-the-tests", "--http-addr="}, cli.Streams{Out: &out, Err: &errb})
		for v, closest := range map[string]string{"MIMC_BRIDGE_KAFKA_TOPIC": "MIMC_BRIDGE_KAFKA_TOPICS", "MIMC_BRIDGE_RATE_P2p": "MIMC_BRIDGE_RATE_P2P"} {
			n := 0
			for line := range strings.SplitSeq(errb.String(), "\n") {
				if strings.Contains(line, `"msg":"an environment variable is not a setting and is ignored"`) &&
					strings.Contains(line, `"variable":"`+v+`"`) && strings.Contains(line, `"closest_setting":"`+closest+`"`) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d warnings logged for %s, want 1: %q", n, v, errb.String())
			}
		}
	})
}

// A bad OTEL_* value stops run before it dials anything, and config --for
// run says so, each naming the variable; the other commands ignore them.
func TestABadOTELValueStopsRunAndIsNamed(t *testing.T) {
	clearSettings(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	all := []string{"--kafka-brokers", "127.0.0.1:9", "--mimc-app-id", "1", "--mimc-app-key", "k", "--mimc-app-secret", "s3cret-of-the-tests"}
	code, _, stderr := run(t, "", append([]string{"run"}, all...)...)
	if code != cli.ExitUsage || !strings.Contains(stderr, "OTEL_TRACES_EXPORTER") || !strings.Contains(stderr, "zipkin") {
		t.Errorf("run: exit %d, stderr %q; want 2 naming OTEL_TRACES_EXPORTER", code, stderr)
	}
	code, _, stderr = run(t, "", append([]string{"config", "--for", "run"}, all...)...)
	if code != cli.ExitUsage || !strings.Contains(stderr, "OTEL_TRACES_EXPORTER") {
		t.Errorf("config --for run: exit %d, stderr %q; want 2 naming OTEL_TRACES_EXPORTER", code, stderr)
	}
	code, _, stderr = run(t, "", append([]string{"config"}, all...)...)
	if code != cli.ExitOK || !strings.Contains(stderr, "OTEL_TRACES_EXPORTER") {
		t.Errorf("config: exit %d, stderr %q; want 0 with a note naming OTEL_TRACES_EXPORTER", code, stderr)
	}
}
