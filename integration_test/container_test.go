package integration_test

import "testing"

// containerCluster starts Apache Kafka through testcontainers. This machine
// kind has no Docker engine, so the mode fails loudly rather than skipping.
func containerCluster(t *testing.T) *cluster {
	t.Helper()
	t.Fatalf("MIMC_BRIDGE_IT_KAFKA=container needs a Docker engine; none is reachable here")
	return nil
}
