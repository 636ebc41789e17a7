package bridge

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/inflight"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// Deps are the parts a Bridge drives. The composition root (cli.Build)
// builds them from the settings; tests give fakes. Adapters depend on the
// bridge, not the other way round: it builds none of them.
type Deps struct {
	Group   Group
	Brokers Brokers // the start-up probe
	Source  Source
	// Pusher sends the calls; when it tells how its request bodies weigh
	// (BodySize, as the MIMC client does), the batcher cuts calls by it.
	Pusher    Pusher
	Publisher Publisher
	Scanner   Scanner         // nil: outcomes already written are not looked for
	Delivered DeliveredReader // nil: the dedup window starts empty
	Offsets   EndOffsets      // nil: no lag gauges
	// Partitions counts the input partitions the quota's share divides.
	Partitions PartitionCounter
	// Quota holds this member to its share of the group's MIMC quota when
	// a rate is set; the same limiter is in the Pusher's Gate.
	Quota *quota.Limiter
	// Health is what /readyz reports; the same one is in the Pusher's
	// observer and the Publisher's error hook. Nil: a new one.
	Health *Health
	Tracer trace.Tracer // nil: no spans
	// Close releases the parts once Run has returned (nil: nothing to).
	Close func()
}

// The pipeline's policy for the clients the composition root builds: the
// MIMC client takes its Gate, BeforeAttempt and observer from here, the
// publisher its error hook.

// Gate admits every MIMC attempt through the member's share of the quota q,
// urgent calls ahead, then the bound of calls in flight.
func Gate(q *quota.Limiter, calls *inflight.Limiter) mimc.Gate {
	return gate{quota: q, inflight: calls}
}

// BeforeAttempt drops the recipients of a call that expired before an
// attempt (the MIMC client's BeforeAttempt hook).
func BeforeAttempt() mimc.BeforeAttempt { return dropExpired }

// MIMCObserver counts the MIMC client's attempts and retries in met and
// tells health whether MIMC answers.
func MIMCObserver(met *metrics.Metrics, health *Health) mimc.Observer {
	return observer{met: met, health: health}
}

// PublishFailed is the publisher's hook for a failed write: counted, and
// reported by /readyz once it lasts.
func PublishFailed(met *metrics.Metrics, health *Health) func(error) {
	return func(error) { met.OutcomeWriteErrors.Inc(); health.writerFailed() }
}
