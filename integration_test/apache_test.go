package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/integration_test/apachekafka"
)

// The harness runs against real Apache Kafka when MIMC_BRIDGE_IT_KAFKA=apache:
// one node, started by the first test that asks for a broker and shared by
// every test of the run (each test makes its own randomly named topics and
// group), stopped by TestMain. MIMC_BRIDGE_IT_KAFKA_VERSION picks the version
// (default apachekafka.DefaultVersion).
var shared struct {
	once    sync.Once
	cluster *apachekafka.Cluster
	dir     string
	err     error
}

// cleanups run after every test, last added first: the run's shared nodes.
var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Close()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

// kafkaVersion is the Apache Kafka version asked for.
func kafkaVersion() string {
	if v := os.Getenv("MIMC_BRIDGE_IT_KAFKA_VERSION"); v != "" {
		return v
	}
	return apachekafka.DefaultVersion
}

// sharedApache returns the run's Apache Kafka node, starting it once. A node
// that cannot start fails every test that needs it, with the reason: the run
// asked for real Kafka and must not fall back to kfake.
func sharedApache(t *testing.T) *cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "mimc-bridge-it-kafka-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared.cluster, shared.err = apachekafka.Start(ctx, apachekafka.Config{
			Version: kafkaVersion(), Dir: shared.dir,
			Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "integration_test: "+format+"\n", args...) },
		})
	})
	if shared.err != nil {
		t.Fatalf("MIMC_BRIDGE_IT_KAFKA=apache: Apache Kafka %s did not start: %v", kafkaVersion(), shared.err)
	}
	return &cluster{brokers: shared.cluster.Bootstrap(apachekafka.Plaintext), apache: shared.cluster, replicas: 1}
}

// newApacheCluster starts a cluster of its own for a test that stops,
// kills or reconfigures brokers; it is stopped at the test's end.
func newApacheCluster(t *testing.T, cfg apachekafka.Config) *cluster {
	t.Helper()
	cfg.Version = kafkaVersion()
	cfg.Dir = t.TempDir()
	cfg.Log = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := apachekafka.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Apache Kafka %s (%d nodes) did not start: %v", cfg.Version, cfg.Nodes, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Apache Kafka nodes:\n%s", c.Report(30))
		}
		c.Close()
	})
	return &cluster{brokers: c.Bootstrap(apachekafka.Plaintext), apache: c, replicas: c.Nodes()}
}

// needApache runs a test only against real Apache Kafka: in a kfake run it
// says so in one line, the suite's way to mark a test kfake cannot serve.
func needApache(t *testing.T) {
	t.Helper()
	if os.Getenv("MIMC_BRIDGE_IT_KAFKA") != "apache" {
		t.Skip("needs real Apache Kafka: MIMC_BRIDGE_IT_KAFKA=apache (.ci/run sets it)")
	}
}

// .ci/run runs a smoke set by name against the older versions: a renamed
// test must not drop out of it unseen.
func TestTheSmokeSetOfCIRunNamesTestsThatExist(t *testing.T) {
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SMOKE='([^']+)'`).FindSubmatch(script)
	if m == nil {
		t.Fatal(".ci/run has no SMOKE='...' line")
	}
	src, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range src {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for name := range strings.SplitSeq(string(m[1]), "|") {
		if !bytes.Contains(all, []byte("func "+name+"(t *testing.T)")) {
			t.Errorf(".ci/run's smoke set names %s, which is not a test of this package", name)
		}
	}
}
