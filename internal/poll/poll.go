// Package poll waits in tests for a condition that another goroutine or
// process makes true.
package poll

import (
	"testing"
	"time"
)

// Until polls cond every 50 ms until it holds, and fails t once d has passed.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
