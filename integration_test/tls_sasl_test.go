package integration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// The SASL password of these tests is the same canary as the app secret:
// the checks that the app secret never shows cover the password too.
const saslUser = "bridge"

// testCA is a self-signed CA and a server certificate for 127.0.0.1 it
// signed, made fresh for a test.
type testCA struct {
	server   *tls.Config // for the broker
	caFile   string      // PEM of the CA, for KAFKA_TLS_CA_FILE
	certFile string      // PEM of the server's certificate, for Apache Kafka
	keyFile  string      // PEM (PKCS#8) of its key
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	return newTestCAIn(t, t.TempDir())
}

// newTestCAIn makes the CA with its files in dir.
func newTestCAIn(t *testing.T, dir string) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mimc-bridge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	for f, b := range map[string]*pem.Block{
		caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: srvDER}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return testCA{
		certFile: certFile, keyFile: keyFile,
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
			MinVersion:   tls.VersionTLS12,
		},
		caFile: caFile,
	}
}

// secureAccess is a test client with the bridge's own TLS and SASL set-up.
func secureAccess(t *testing.T, brokers []string, caFile, mechanism, user, pass string) access {
	t.Helper()
	conn, err := kafka.NewConn(kafka.ConnConfig{
		Brokers: brokers, TLS: caFile != "", TLSCAFile: caFile,
		SASLMechanism: mechanism, SASLUsername: user, SASLPassword: secret.New(pass),
	})
	if err != nil {
		t.Fatal(err)
	}
	return access{brokers: brokers, transport: conn.Transport(), dialer: conn.Dialer()}
}

func (a access) createTopic(t *testing.T, prefix string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, mrand.Int63())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := a.client(10*time.Second).CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil || resp.Errors[name] != nil {
		t.Fatalf("creating topic %s: %v %v", name, err, resp.Errors[name])
	}
	return name
}

func (a access) produce(t *testing.T, topic string, values ...[]byte) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(a.brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond, Transport: a.transport}
	defer w.Close()
	msgs := make([]kafkago.Message, len(values))
	for i, v := range values {
		msgs[i] = kafkago.Message{Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// The bridge delivers end to end over TLS with each SASL mechanism.
func TestTLSAndSASLDeliverEndToEnd(t *testing.T) {
	ca := tlsCA(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech+" over TLS", func(t *testing.T) {
			t.Parallel()
			c := saslTLSCluster(t, ca, mech)
			a := secureAccess(t, c.brokers, ca.caFile, strings.ToLower(mech), saslUser, appSecret)
			in := a.createTopic(t, "push", 2)
			results := a.createTopic(t, "results", 1)
			group := fmt.Sprintf("group-%d", mrand.Int63())
			fake, url := fakeMIMC(t)
			cfg := settings(t, c, url, in, results, group)
			cfg.KafkaTLS, cfg.KafkaTLSCAFile = true, ca.caFile
			cfg.KafkaSASLMechanism, cfg.KafkaSASLUsername = strings.ToLower(mech), saslUser
			cfg.KafkaSASLPassword = secret.New(appSecret)
			values, ids := uniqueEvents(t, 300, "tls")
			a.produce(t, in, values...)
			w := startWatch(t, a, cfg, 2, 1)
			start := time.Now()
			b := startBridge(t, cfg)
			waitFor(t, 30*time.Second, "every event's outcome", func() bool { return w.seenAll(ids) })
			waitFor(t, 20*time.Second, "every record committed", func() bool {
				got, err := a.tryCommitted(group, in, 2)
				if err != nil {
					return false
				}
				end, err := a.tryEndOffsets(in, 2)
				return err == nil && got[0] == end[0] && got[1] == end[1]
			})
			took := time.Since(start)
			scrapeNoSecret(t, b)
			if err := b.stop(t); err != nil {
				t.Errorf("bridge: %v", err)
			}
			w.check()
			w.mu.Lock()
			dups := 0
			for _, id := range ids {
				dups += w.count[id] - 1
			}
			bad := append([]string(nil), w.bad...)
			w.mu.Unlock()
			for _, s := range bad {
				t.Error(s)
			}
			if n := len(pushCounts(fake)); n != len(ids) {
				t.Errorf("%d recipients pushed for %d events", n, len(ids))
			}
			t.Logf("%s over TLS: %d events delivered and committed in %s, %d duplicate outcomes", mech, len(ids), took.Round(10*time.Millisecond), dups)
		})
	}
}

// runOnce runs the built binary's run command with cfg plus extra
// environment, and returns its exit code, output and how long it ran.
func runOnce(t *testing.T, cfg config.Config, extra ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "run")
	cmd.Env = append(envOf(cfg), extra...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running the bridge: %v", err)
		}
		code = ee.ExitCode()
	}
	return code, string(out), took
}

// A wrong TLS or SASL set-up stops the bridge at start-up within seconds,
// with a non-zero exit and one message naming the cause, and without the
// password.
func TestWrongTLSOrSASLFailsAtStartUp(t *testing.T) {
	ca := tlsCA(t)
	other := newTestCA(t) // a CA that did not sign the broker's certificate
	const wrongPass = "canary-WRONG-PASSWORD-4e02"

	plain := plainCluster(t)
	secure := saslTLSCluster(t, ca, "SCRAM-SHA-256")
	tlsOnly := tlsCluster(t, ca)
	_, url := fakeMIMC(t)

	tls := func(caFile string) []string {
		return []string{"MIMC_BRIDGE_KAFKA_TLS=true", "MIMC_BRIDGE_KAFKA_TLS_CA_FILE=" + caFile}
	}
	saslAs := func(user, mech, pass string) []string {
		return []string{"MIMC_BRIDGE_KAFKA_SASL_MECHANISM=" + mech, "MIMC_BRIDGE_KAFKA_SASL_USERNAME=" + user,
			"MIMC_BRIDGE_KAFKA_SASL_PASSWORD=" + pass}
	}
	sasl := func(mech, pass string) []string { return saslAs(saslUser, mech, pass) }
	cases := []struct {
		scenario string
		c        *cluster
		env      []string
		want     []string // the message contains each of these
	}{
		{"a wrong SCRAM password", secure, append(tls(ca.caFile), sasl("scram-sha-256", wrongPass)...),
			[]string{"SASL authentication failed", saslUser, "KAFKA_SASL_PASSWORD"}},
		{"a wrong PLAIN mechanism for a SCRAM user", secure, append(tls(ca.caFile), saslAs(scramOnlyUser, "plain", appSecret)...),
			[]string{"SASL", "plain"}},
		{"SASL without TLS against a TLS broker", secure, sasl("scram-sha-256", appSecret),
			[]string{"TLS"}},
		{"TLS against a plaintext broker", plain, tls(ca.caFile),
			[]string{"TLS"}},
		{"plaintext against a TLS broker", tlsOnly, nil,
			[]string{"TLS"}},
		{"a broker certificate from an untrusted CA", tlsOnly, tls(other.caFile),
			[]string{"certificate", "KAFKA_TLS_CA_FILE"}},
		{"no SASL against a SASL broker", secure, tls(ca.caFile),
			[]string{"SASL"}},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			cfg := settings(t, tc.c, url, "push", "results", "group")
			cfg.HTTPAddr = "127.0.0.1:0"
			code, out, took := runOnce(t, cfg, tc.env...)
			t.Logf("%s: exit %d after %s: %s", tc.scenario, code, took.Round(10*time.Millisecond), lastLine(out))
			if code == 0 {
				t.Errorf("exit 0, want non-zero")
			}
			if took > 20*time.Second {
				t.Errorf("took %s to fail, want seconds", took)
			}
			msg := lastLine(out)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the message lacks %q: %s", w, msg)
				}
			}
			for _, s := range []string{appSecret, wrongPass} {
				if strings.Contains(out, s) {
					t.Errorf("the output carries the password:\n%s", out)
				}
			}
		})
	}
}
