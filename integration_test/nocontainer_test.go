//go:build !container

package integration_test

import "testing"

// containerCluster without the container build tag: the testcontainers
// dependency (a Docker client) is compiled only when asked for, so the
// default test run stays quick. The mode fails loudly, never skips.
func containerCluster(t *testing.T) *cluster {
	t.Helper()
	t.Fatalf("MIMC_BRIDGE_IT_KAFKA=container needs the container build tag and a Docker engine: " +
		"MIMC_BRIDGE_IT_KAFKA=container go test -tags container ./integration_test/")
	return nil
}
