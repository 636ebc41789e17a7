package integration_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mimc-bridge/mimc-bridge/integration_test/apachekafka"
)

// The TLS and SASL tests run against kfake's secured listeners, or, with
// MIMC_BRIDGE_IT_KAFKA=apache, against one Apache Kafka node of the run with
// PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL listeners: user saslUser with
// password appSecret for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (the SCRAM
// credentials are written when its storage is formatted), and scramOnlyUser
// for SCRAM alone.
var secureShared struct {
	once    sync.Once
	cluster *apachekafka.Cluster
	ca      testCA
	err     error
}

// scramOnlyUser has SCRAM credentials and no PLAIN password.
const scramOnlyUser = "scram-only"

func apacheMode() bool { return os.Getenv("MIMC_BRIDGE_IT_KAFKA") == "apache" }

func secureApache(t *testing.T) (*apachekafka.Cluster, testCA) {
	t.Helper()
	secureShared.once.Do(func() {
		dir, err := os.MkdirTemp("", "mimc-bridge-it-kafka-secure-")
		if err != nil {
			secureShared.err = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		secureShared.ca = newTestCAIn(t, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		secureShared.cluster, secureShared.err = apachekafka.Start(ctx, apachekafka.Config{
			Version: kafkaVersion(), Dir: dir,
			Secure: &apachekafka.Secure{
				PlainUsers: map[string]string{saslUser: appSecret},
				ScramUsers: map[string]string{saslUser: appSecret, scramOnlyUser: appSecret},
				CertFile:   secureShared.ca.certFile, KeyFile: secureShared.ca.keyFile,
			},
			Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "integration_test: "+format+"\n", args...) },
		})
		if secureShared.cluster != nil {
			cleanups = append(cleanups, secureShared.cluster.Close)
		}
	})
	if secureShared.err != nil || secureShared.cluster == nil {
		t.Fatalf("MIMC_BRIDGE_IT_KAFKA=apache: the secured Apache Kafka %s node did not start: %v", kafkaVersion(), secureShared.err)
	}
	return secureShared.cluster, secureShared.ca
}

// tlsCA is the CA the run's secured brokers present certificates of.
func tlsCA(t *testing.T) testCA {
	t.Helper()
	if apacheMode() {
		_, ca := secureApache(t)
		return ca
	}
	return newTestCA(t)
}

// saslTLSCluster is a broker that takes TLS (certificate of ca) and SASL
// with mechanism mech for saslUser.
func saslTLSCluster(t *testing.T, ca testCA, mech string) *cluster {
	t.Helper()
	if apacheMode() {
		c, _ := secureApache(t)
		return &cluster{brokers: c.Bootstrap(apachekafka.SASLSSL), apache: c}
	}
	return newKfake(t, kfake.TLS(ca.server), kfake.EnableSASL(), kfake.Superuser(strings.ToUpper(mech), saslUser, appSecret))
}

// tlsCluster is a broker that takes TLS without SASL.
func tlsCluster(t *testing.T, ca testCA) *cluster {
	t.Helper()
	if apacheMode() {
		c, _ := secureApache(t)
		return &cluster{brokers: c.Bootstrap(apachekafka.SSL), apache: c}
	}
	return newKfake(t, kfake.TLS(ca.server))
}

// plainCluster is a broker without TLS or SASL.
func plainCluster(t *testing.T) *cluster {
	t.Helper()
	if apacheMode() {
		c, _ := secureApache(t)
		return &cluster{brokers: c.Bootstrap(apachekafka.Plaintext), apache: c}
	}
	return newKfake(t)
}
