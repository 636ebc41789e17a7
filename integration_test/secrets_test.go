package integration_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mimc-bridge/mimc-bridge/internal/syncbuf"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// One canary, appSecret, is both the MIMC app secret and the SASL password
// here (and in the TLS/SASL, fault and stall tests, whose logs, outcomes and
// /metrics are checked for it too). It must show in no log line, error,
// outcome, metric, `config` output or panic value.
func TestTheCanarySecretNeverShows(t *testing.T) {
	ca := tlsCA(t)
	c := saslTLSCluster(t, ca, "SCRAM-SHA-512")
	a := secureAccess(t, c.brokers, ca.caFile, "scram-sha-512", saslUser, appSecret)
	in := a.createTopic(t, "push", 2)
	results := a.createTopic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	_, url := fakeMIMC(t)
	cfg := settings(t, c, url, in, results, group)
	cfg.KafkaTLS, cfg.KafkaTLSCAFile = true, ca.caFile
	cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername = "scram-sha-512", saslUser
	cfg.KafkaSASLPassword = secret.New(appSecret)

	t.Run("logs, errors, outcomes and metrics of a running bridge", func(t *testing.T) {
		// Delivered, rejected, and failed (the fake refuses a wrong app
		// key: the signing and its errors are where a secret could leak).
		values, ids := uniqueEvents(t, 40, "canary")
		values = append(values, []byte(`{"id":"rejected-1","fromAccount":"a","msg":""}`), []byte(`{not json`))
		ids = append(ids, "rejected-1")
		a.produce(t, in, values...)
		w := startWatch(t, a, cfg, 2, 1)
		b := startBridge(t, cfg)
		waitFor(t, 30*time.Second, "the first outcomes", func() bool { return w.seenAll(ids) })
		metrics := scrapeNoSecret(t, b)
		if err := b.stop(t); err != nil && strings.Contains(err.Error(), appSecret) {
			t.Errorf("the bridge's error carries the secret")
		}

		wrong := cfg
		wrong.KafkaGroupID = group + "-wrong-key"
		wrong.MIMCAppKey = "not-the-key"
		wrong.RetryMaxElapsed = 2 * time.Second
		more, moreIDs := uniqueEvents(t, 10, "canary-wrong")
		a.produce(t, in, more...)
		b2 := startBridge(t, wrong)
		waitFor(t, 30*time.Second, "the failed outcomes", func() bool { return w.seenAll(moreIDs) })
		scrapeNoSecret(t, b2)
		if err := b2.stop(t); err != nil && strings.Contains(err.Error(), appSecret) {
			t.Errorf("the bridge's error carries the secret")
		}
		w.mu.Lock()
		failed := w.byStatus["failed"]
		for _, v := range w.raw {
			if strings.Contains(string(v), appSecret) {
				t.Errorf("an outcome carries the secret: %.300s", v)
			}
		}
		w.mu.Unlock()
		if failed == 0 {
			t.Error("no failed outcome: the wrong key did not exercise the error paths")
		}
		for _, logs := range []string{b.logs.String(), b2.logs.String()} {
			if strings.Contains(logs, appSecret) {
				t.Error("a log line carries the secret")
			}
			if !strings.Contains(logs, `"kafka_sasl_password":"[REDACTED]"`) && !strings.Contains(logs, "partitions assigned") {
				t.Error("the logs are not what this test expects to check")
			}
		}
		if !strings.Contains(metrics, "mimc_bridge_outcomes_total") {
			t.Error("/metrics lacks the outcome counters")
		}
	})

	t.Run("every printed form of the settings and the connection", func(t *testing.T) {
		conn, err := kafka.NewConn(kafka.ConnConfig{Brokers: c.brokers, TLS: true, TLSCAFile: ca.caFile,
			SASLMechanism: "plain", SASLUsername: saslUser, SASLPassword: secret.New(appSecret)})
		if err != nil {
			t.Fatal(err)
		}
		var printed []string
		for _, v := range []any{cfg, &cfg, conn, &conn} {
			printed = append(printed, fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprint(v))
			if b, err := json.Marshal(v); err == nil {
				printed = append(printed, string(b))
			}
			printed = append(printed, recoverPanic(v))
		}
		var sb strings.Builder
		cfg.Print(&sb)
		printed = append(printed, sb.String())
		logs := &syncbuf.Buffer{}
		zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zapcore.DebugLevel)).
			Info("settings", append(cfg.Fields(), zap.Any("config", cfg), zap.Any("conn", conn))...)
		printed = append(printed, logs.String())
		for i, s := range printed {
			if strings.Contains(s, appSecret) {
				t.Errorf("printed form %d carries the secret: %.300s", i, s)
			}
		}
	})

	t.Run("config and run output with bad settings", func(t *testing.T) {
		base := append(envOf(cfg), "MIMC_BRIDGE_KAFKA_SASL_PASSWORD="+appSecret)
		for _, args := range [][]string{
			{"config", "--kafka-sasl-password", appSecret, "--kafka-sasl-mechanism", "bogus"},
			{"config", "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-username", saslUser},
			{"run", "--kafka-sasl-mechanism", "bogus", "--mimc-app-secret", appSecret},
			{"run", "--kafka-brokers", "not a broker", "--kafka-sasl-password", appSecret},
		} {
			cmd := exec.CommandContext(t.Context(), binary(t), args...)
			cmd.Env = base
			out, _ := cmd.CombinedOutput()
			if strings.Contains(string(out), appSecret) {
				t.Errorf("`mimc-bridge %s` prints the secret:\n%s", strings.Join(args, " "), out)
			}
			if args[0] == "config" && !strings.Contains(string(out), "KAFKA_SASL_PASSWORD=[REDACTED]") {
				t.Errorf("`mimc-bridge %s` does not show KAFKA_SASL_PASSWORD=[REDACTED]:\n%s", strings.Join(args, " "), out)
			}
		}
	})
}

// recoverPanic returns what a panic with v would print.
func recoverPanic(v any) (s string) {
	defer func() { s = fmt.Sprint(recover()) }()
	panic(v)
}
