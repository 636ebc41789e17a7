package bridge

import (
	"go/build"
	"testing"
)

// Adapters depend on the core: the bridge's own code imports neither the
// Kafka adapter nor a Kafka client, so that it can be driven by fakes and
// wired in one place (cli.Build).
func TestTheBridgeImportsNoKafkaAdapter(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch imp {
		case "github.com/mimc-bridge/mimc-bridge/kafka",
			"github.com/segmentio/kafka-go", "github.com/twmb/franz-go/pkg/kgo":
			t.Errorf("bridge imports %s", imp)
		}
	}
}
