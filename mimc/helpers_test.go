package mimc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

const (
	testAppID  = "2882303761517669588"
	testAppKey = "5111766983588"
	// canary is the app secret of every test: it must never be printed.
	canary = "canary-7Qx2-app-secret-never-printed"
)

func testServerConfig() mimctest.Config {
	return mimctest.Config{AppID: testAppID, AppKey: testAppKey, AppSecret: canary, Seed: 1}
}

func testConfig(baseURL string) Config {
	return Config{
		BaseURL:     baseURL,
		Credentials: Credentials{AppID: testAppID, AppKey: testAppKey, AppSecret: secret.New(canary)},
		HTTPTimeout: 2 * time.Second,
		Retry:       RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 2 * time.Second},
	}
}

// newTestClient returns a client of baseURL whose logs are captured.
func newTestClient(t *testing.T, cfg Config) (*Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	c, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, logs
}

// newFake starts a fake MIMC server and a client of it.
func newFake(t *testing.T, mod func(*Config)) (*mimctest.Server, *Client, *observer.ObservedLogs) {
	t.Helper()
	srv, url := mimctest.NewTestServer(t, testServerConfig())
	cfg := testConfig(url)
	if mod != nil {
		mod(&cfg)
	}
	c, logs := newTestClient(t, cfg)
	return srv, c, logs
}

// answering serves every request with the given status, headers and body.
func answering(t *testing.T, status int, header http.Header, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func accounts(as ...string) message.Recipients { return message.Recipients{ToAccounts: as} }

func p2p(as ...string) Call {
	return Call{Content: message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "srv1", Msg: "hello"},
		Recipients: accounts(as...)}
}

func p2t(ids ...int64) Call {
	return Call{Content: message.Content{Kind: message.P2T, FromAccount: "shop", FromResource: "srv1", Msg: "hello"},
		Recipients: message.Recipients{TopicIDs: ids}}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("Push succeeded, want an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T (%v), want *mimc.Error", err, err)
	}
	return e
}
