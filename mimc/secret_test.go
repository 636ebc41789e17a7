package mimc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mimc-bridge/mimc-bridge/secret"
)

// TestSecretIsNeverPrinted prints every value that holds or meets the
// secret, in every form, and every captured log line.
func TestSecretIsNeverPrinted(t *testing.T) {
	srv, c, logs := newFake(t, nil)
	srv.Script("http500", "envelope500", "ok")
	call := p2p("alice", "bob")
	if _, err := c.Push(ctxT(t), call); err != nil {
		t.Fatal(err)
	}

	// A client with a wrong secret gets refused; the error must not show it.
	cfg := c.Config()
	cfg.Credentials.AppSecret = secret.New("wrong-" + canary)
	wrong, wrongLogs := newTestClient(t, cfg)
	_, errWrong := wrong.Push(ctxT(t), call)

	// A server that echoes the secret in its message gets scrubbed.
	echo := testConfig(answering(t, http.StatusServiceUnavailable, nil,
		`{"code":503,"message":"bad secret `+canary+`","data":null}`))
	echo.Retry.MaxElapsed = 20 * 1e6
	echoing, echoLogs := newTestClient(t, echo)
	_, errEcho := echoing.Push(ctxT(t), call)
	if errEcho == nil || !strings.Contains(errEcho.Error(), secret.Redacted) {
		t.Errorf("echoed secret not scrubbed to %s: %v", secret.Redacted, errEcho)
	}

	values := map[string]any{
		"config": cfg, "config pointer": &cfg, "client": c, "call": call,
		"error of wrong credentials": errWrong, "error of an echoing server": errEcho,
	}
	for name, v := range values {
		forms := []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v)}
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, string(b))
		}
		for _, f := range forms {
			if strings.Contains(f, canary) {
				t.Errorf("%s leaks the secret: %s", name, f)
			}
		}
	}
	entries := append(logs.All(), wrongLogs.All()...)
	entries = append(entries, echoLogs.All()...)
	if len(entries) == 0 {
		t.Fatal("no log lines captured: the test proves nothing")
	}
	for _, e := range entries {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		if strings.Contains(line, canary) {
			t.Errorf("log line leaks the secret: %s", line)
		}
	}
}
