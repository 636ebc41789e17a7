package cli

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

func TestBuildWiresABridgeWithoutDialing(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:9"}
	cfg.MIMCAppID, cfg.MIMCAppKey, cfg.MIMCAppSecret = "1", "k", secret.New("s")
	b, err := Build(cfg, zap.NewNop(), metrics.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Health().Ready(time.Now()); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Errorf("a bridge that has not joined reports ready: %v", err)
	}
}

func TestBuildRefusesAnUnknownSASLMechanism(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:9"}
	cfg.KafkaSASLMechanism = "gssapi"
	if _, err := Build(cfg, zap.NewNop(), metrics.New(), nil); err == nil || !strings.Contains(err.Error(), "KAFKA_SASL_MECHANISM") {
		t.Errorf("Build: %v, want the mechanism refused", err)
	}
}
