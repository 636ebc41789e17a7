package apachekafka

import (
	"encoding/base64"
	"testing"
)

// The storage tool refuses a cluster id that starts with '-' (it reads it as
// an option), and a random one does once in 64: format failed so in CI.
func TestAClusterIDNeverLooksLikeAnOption(t *testing.T) {
	for range 10_000 {
		id := newClusterID()
		if id[0] == '-' {
			t.Fatalf("cluster id %q starts with '-'", id)
		}
		if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
			t.Fatalf("cluster id %q is not 16 bytes in URL-safe base64: %v", id, err)
		}
	}
}
