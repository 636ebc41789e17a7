package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/integration_test/apachekafka"
	"github.com/mimc-bridge/mimc-bridge/internal/poll"
	"github.com/mimc-bridge/mimc-bridge/internal/syncbuf"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// Test credentials. The secret is a canary: no log line, outcome or config
// output may contain it.
const (
	appID     = "2882303761517669588"
	appKey    = "5111766983588"
	appSecret = "canary-SECRET-b7f3e19a0c"
)

// cluster is the Kafka-protocol broker the tests run against.
type cluster struct {
	brokers  []string
	kfake    *kfake.Cluster       // nil for any other broker
	apache   *apachekafka.Cluster // real Apache Kafka started by the harness, else nil
	replicas int                  // replication factor of new topics; 0 means 1
}

// newCluster returns the broker the harness was asked for:
// MIMC_BRIDGE_IT_BROKERS names an external cluster; MIMC_BRIDGE_IT_KAFKA=apache
// runs real Apache Kafka as a JVM (see apache_test.go); MIMC_BRIDGE_IT_KAFKA=container
// asks for Apache Kafka through testcontainers; otherwise an in-process kfake
// broker on loopback TCP.
//
// The harness's variables all start with MIMC_BRIDGE_IT_ (config.TestEnvPrefix):
// the bridge's commands pass that prefix over when they warn about
// MIMC_BRIDGE_* variables that are not settings, so name any new one
// (MIMC_BRIDGE_IT_KAFKA_VERSION, ...) under it.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	if b := os.Getenv("MIMC_BRIDGE_IT_BROKERS"); b != "" {
		return &cluster{brokers: strings.Split(b, ",")}
	}
	switch mode := os.Getenv("MIMC_BRIDGE_IT_KAFKA"); mode {
	case "apache":
		return sharedApache(t)
	case "container":
		return containerCluster(t)
	case "", "kfake":
	default:
		t.Fatalf("MIMC_BRIDGE_IT_KAFKA=%q: want \"apache\", \"container\" or \"kfake\"", mode)
	}
	return newKfake(t)
}

// newKfake starts an in-process kfake broker whatever the harness mode: the
// tests that inject broker faults or need a TLS or SASL listener of their own
// always run against it, so they never skip.
func newKfake(t *testing.T, opts ...kfake.Opt) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("starting the kfake broker: %v", err)
	}
	t.Cleanup(c.Close)
	return &cluster{brokers: c.ListenAddrs(), kfake: c}
}

func (c *cluster) client() *kafkago.Client {
	return &kafkago.Client{Addr: kafkago.TCP(c.brokers...), Timeout: 10 * time.Second}
}

// topic creates a topic with a random name.
func (c *cluster) topic(t *testing.T, prefix string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, rand.Int63())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.client().CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: max(1, c.replicas),
	}}})
	if err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	return name
}

// produce writes values to topic, spread over its partitions, and returns
// where each landed.
func (c *cluster) produce(t *testing.T, topic string, values ...[]byte) {
	t.Helper()
	w := &kafkago.Writer{
		Addr: kafkago.TCP(c.brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000,
	}
	defer w.Close()
	msgs := make([]kafkago.Message, len(values))
	for i, v := range values {
		msgs[i] = kafkago.Message{Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing %d events: %v", len(values), err)
	}
}

// endOffsets returns the end offset of every partition of topic.
func (c *cluster) endOffsets(t *testing.T, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := kafka.Partitions(ctx, c.client(), topic)
	if err == nil {
		var end map[int]int64
		if end, err = kafka.EndOffsets(ctx, c.client(), topic, ps); err == nil {
			return end
		}
	}
	t.Fatalf("end offsets: %v", err)
	return nil
}

// committed returns the group's committed offsets for topic (-1 when none).
func (c *cluster) committed(t *testing.T, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := kafka.CommittedOffsets(ctx, c.client(), group, topic, kafka.Range(partitions))
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	return out
}

// outcomes reads every record of the results topic.
func (c *cluster) outcomes(t *testing.T, topic string) []outcomeRecord {
	t.Helper()
	end := c.endOffsets(t, topic)
	var out []outcomeRecord
	for p, last := range end {
		if last == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.brokers, Topic: topic, Partition: p, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				t.Fatalf("reading %s/%d: %v", topic, p, err)
			}
			o, err := event.ParseOutcome(m.Value)
			if err != nil {
				t.Fatalf("outcome at %s/%d/%d is not valid: %v: %s", topic, p, m.Offset, err, m.Value)
			}
			if string(m.Key) != o.ID {
				t.Errorf("outcome key %q differs from its id %q", m.Key, o.ID)
			}
			out = append(out, outcomeRecord{Outcome: o, raw: m.Value})
			if m.Offset+1 >= last {
				break
			}
		}
		cancel()
		r.Close()
	}
	return out
}

type outcomeRecord struct {
	event.Outcome
	raw []byte
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

// fakeMIMC starts the MIMC fake on a real loopback listener.
func fakeMIMC(t *testing.T) (*mimctest.Server, string) {
	t.Helper()
	return mimctest.NewTestServer(t, mimctest.Config{AppID: appID, AppKey: appKey, AppSecret: appSecret, Seed: 1})
}

// settings returns bridge settings for a test.
func settings(t *testing.T, c *cluster, mimcURL, inTopic, resultsTopic, group string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.KafkaBrokers = c.brokers
	cfg.KafkaTopics = []string{inTopic}
	cfg.KafkaGroupID = group
	cfg.ResultsTopic = resultsTopic
	cfg.MIMCURL = mimcURL
	cfg.MIMCAppID = appID
	cfg.MIMCAppKey = appKey
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.RetryMaxElapsed = 20 * time.Second
	cfg.HTTPTimeout = 2 * time.Second
	cfg.LogLevel = "debug"
	// The broker's minimum: a killed member is noticed in seconds.
	cfg.KafkaSessionTimeout = 6 * time.Second
	return withSecret(t, cfg)
}

func withSecret(t *testing.T, cfg config.Config) config.Config {
	t.Helper()
	// Through the loader, as an operator would set it.
	c, _, err := config.Load([]string{"--mimc-app-secret", appSecret}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("loading the secret: %v", err)
	}
	cfg.MIMCAppSecret = c.MIMCAppSecret
	return cfg
}

// bridgeProc is a bridge running in this process.
type bridgeProc struct {
	cancel context.CancelFunc
	done   chan error
	logs   *syncbuf.Buffer
}

// startBridge runs the bridge in process until stop or the end of the test.
func startBridge(t *testing.T, cfg config.Config) *bridgeProc {
	t.Helper()
	logs := &syncbuf.Buffer{}
	enc := zap.NewProductionEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(logs), zapcore.DebugLevel))
	ctx, cancel := context.WithCancel(context.Background())
	p := &bridgeProc{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { p.done <- cli.RunBridge(ctx, cfg, log) }()
	t.Cleanup(func() {
		// A test that cares how the bridge ended stops it itself; by
		// clean-up time only the logs are left to check.
		_ = p.stop(t)
		if strings.Contains(logs.String(), appSecret) {
			t.Errorf("the app secret appears in the bridge's logs")
		}
	})
	return p
}

// stop ends the bridge gracefully and returns its error.
func (p *bridgeProc) stop(t *testing.T) error {
	t.Helper()
	p.cancel()
	select {
	case err, ok := <-p.done:
		if ok {
			close(p.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("the bridge did not stop within 60s")
		return nil
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
