package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/internal/capool"
	"github.com/mimc-bridge/mimc-bridge/internal/smallfile"
)

// serveTCP listens on loopback and runs handle for every connection; the
// listener and the connections are closed when the test ends.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	return ln.Addr().String()
}

// answerRequest reads one Kafka request and answers with its correlation id
// followed by body: a response a Kafka client takes as its own, whatever body
// holds.
func answerRequest(body []byte) func(net.Conn) {
	return func(c net.Conn) {
		var hdr [12]byte // size, api key, api version, correlation id
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:4]))-8); err != nil {
			return
		}
		out := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
		out = append(append(out, hdr[8:12]...), body...)
		_, _ = c.Write(out)
		_, _ = io.Copy(io.Discard, c) // until the client hangs up
	}
}

func TestProbeSaysWhenTheAddressIsNotAKafkaBroker(t *testing.T) {
	httpSrv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(httpSrv.Close)
	tests := []struct {
		scenario string
		addr     string
		want     string
	}{
		{"a service that answers an HTTP error and hangs up",
			serveTCP(t, func(c net.Conn) {
				_, _ = c.Read(make([]byte, 64))
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				c.Close()
			}),
			"does not answer as a Kafka broker: its answer is not the Kafka protocol. Is KAFKA_BROKERS the address of another service?"},
		{"a service that greets first (SSH) and stays open",
			serveTCP(t, func(c net.Conn) {
				_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
				_, _ = io.Copy(io.Discard, c)
			}),
			"does not answer as a Kafka broker: its answer is not the Kafka protocol. Is KAFKA_BROKERS"},
		{"an answer with the request's correlation id and too few bytes",
			serveTCP(t, answerRequest([]byte{1, 2, 3})),
			"does not answer as a Kafka broker: its answer is not the Kafka protocol (not enough bytes"},
		{"an answer with the request's correlation id and a negative length (kafka-go panics on it)",
			serveTCP(t, answerRequest([]byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0})),
			"does not answer as a Kafka broker: its answer is not the Kafka protocol. Is KAFKA_BROKERS"},
		{"a service that accepts and hangs up at once",
			serveTCP(t, func(c net.Conn) { c.Close() }),
			"closed the connection during the first request: does it expect TLS (KAFKA_TLS) or SASL (KAFKA_SASL_MECHANISM)? Or is it not a Kafka broker?"},
		{"an HTTP server, which waits for a line and never answers",
			strings.TrimPrefix(httpSrv.URL, "http://"),
			"did not answer in time: is it a Kafka broker? A service that waits for a line of text (HTTP, for one) never answers a Kafka request"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			// The deadline only bounds the HTTP case, which waits for it.
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err := Conn{Brokers: []string{tt.addr}}.Probe(ctx, "mimc.push")
			if err == nil || !strings.Contains(err.Error(), "broker "+tt.addr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Probe = %v\nwant it to name %s and say %q", err, tt.addr, tt.want)
			}
		})
	}
}

func TestNewConnRefusesABadCAFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		scenario string
		path     string
		want     error
	}{
		{"a file larger than 1 MiB is not read whole", write("big.pem", make([]byte, capool.MaxBytes+1)), smallfile.ErrTooLarge},
		{"a device that never ends is not read whole", "/dev/zero", smallfile.ErrTooLarge},
		{"a file without a certificate", write("empty.pem", []byte("no certificate here")), capool.ErrNoCertificate},
		{"a missing file", filepath.Join(dir, "missing.pem"), os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			_, err := NewConn(ConnConfig{Brokers: []string{"localhost:9092"}, TLS: true, TLSCAFile: tt.path})
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "KAFKA_TLS_CA_FILE: ") {
				t.Errorf("err %v, want KAFKA_TLS_CA_FILE: … %v", err, tt.want)
			}
		})
	}
}

func TestExplainKeepsConnectionErrorsApartFromAnswersThatAreNotKafka(t *testing.T) {
	tests := []struct {
		scenario string
		err      error
		notKafka bool
	}{
		{"a cancelled start-up", fmt.Errorf("dialing: %w", context.Canceled), false},
		{"a reset connection", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false},
		{"a TLS alert", &net.OpError{Op: "remote error", Err: tls.AlertError(40)}, false},
		{"a Kafka error code", kafkago.TopicAuthorizationFailed, false},
		{"an answer with another correlation id", io.ErrNoProgress, true},
		{"an answer kafka-go cannot decode", errors.New("not enough bytes available to load the response"), true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got := Conn{}.explain(context.Background(), "kafka:9092", tt.err)
			if strings.Contains(got, "does not answer as a Kafka broker") != tt.notKafka {
				t.Errorf("explain(%v) = %q", tt.err, got)
			}
		})
	}
}
