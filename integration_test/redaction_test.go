package integration_test

import (
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The app secret appears in no log line, outcome or `config` output: it runs
// the built binary, whose whole output is checked when the test ends, and
// reads every outcome it wrote, failed ones included.
func TestTheAppSecretAppearsInNoLogOutcomeOrConfigOutput(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	_, url := fakeMIMC(t)
	cfg := settings(t, c, url, in, results, group)

	// Events that end delivered and rejected here, and failed against
	// wrong credentials below.
	values, _ := uniqueEvents(t, 50, "redact")
	values = append(values, []byte(`{"id":"bad","fromAccount":"a","msg":""}`))
	c.produce(t, in, values...)

	t.Run("config prints the secret redacted", func(t *testing.T) {
		for _, args := range [][]string{
			{"config", "--mimc-app-secret", appSecret, "--kafka-sasl-password", appSecret},
			{"config", "--mimc-app-secret", appSecret, "--batch-max-recipients", "0"},
		} {
			cmd := exec.CommandContext(t.Context(), binary(t), args...)
			cmd.Env = append(envOf(cfg), "MIMC_BRIDGE_KAFKA_SASL_PASSWORD="+appSecret)
			out, _ := cmd.CombinedOutput()
			if strings.Contains(string(out), appSecret) {
				t.Errorf("`mimc-bridge %s` prints the secret:\n%s", strings.Join(args, " "), out)
			}
			if !strings.Contains(string(out), "MIMC_APP_SECRET=[REDACTED]") {
				t.Errorf("`mimc-bridge %s` does not show MIMC_APP_SECRET=[REDACTED]:\n%s", strings.Join(args, " "), out)
			}
		}
	})

	t.Run("logs and outcomes never carry the secret", func(t *testing.T) {
		p := startProc(t, cfg)
		allCommitted(t, c, cfg, 60*time.Second)
		if code := p.term(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		// Wrong credentials: every call fails with a final code, and the
		// errors in the outcomes and logs must still hide the secret.
		wrong := cfg
		wrong.KafkaGroupID = group + "-wrong"
		more, _ := uniqueEvents(t, 10, "redact-wrong")
		c.produce(t, in, more...)
		wrong = withSecret(t, wrong)
		wrong.MIMCAppKey = "not-the-key"
		p = startProc(t, wrong)
		allCommitted(t, c, wrong, 60*time.Second)
		if code := p.term(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		failed := 0
		for _, o := range c.outcomes(t, results) {
			if strings.Contains(string(o.raw), appSecret) {
				t.Errorf("outcome %s carries the secret: %s", o.ID, o.raw)
			}
			if o.Status == "failed" {
				failed++
			}
		}
		if failed == 0 {
			t.Error("no failed outcome: the wrong credentials did not produce the errors this test checks")
		}
		// The process output was checked by startProc's cleanup; check
		// it here too so a failure names this test.
		if strings.Contains(p.output.String(), appSecret) {
			t.Error("the secret appears in the logs")
		}
	})
}
