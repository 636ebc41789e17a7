//go:build container

package integration_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// kafkaImage is the Apache Kafka image the container mode runs (KRaft, one
// node).
const kafkaImage = "apache/kafka:3.9.1"

// containerCluster starts Apache Kafka through testcontainers. It fails, never
// skips, when Docker is missing: the caller asked for this mode.
func containerCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	port := freeTCPPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// Host networking keeps the advertised address equal to the one the
	// tests dial, without a port-mapping dance.
	c, err := testcontainers.Run(ctx, kafkaImage,
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, port+1),
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://" + addr,
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 fmt.Sprintf("1@127.0.0.1:%d", port+1),
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute, wait.ForLog("Kafka Server started")),
	)
	if err != nil {
		t.Fatalf("MIMC_BRIDGE_IT_KAFKA=container: starting Apache Kafka (%s) through testcontainers failed "+
			"(is a Docker engine running and reachable?): %v", kafkaImage, err)
	}
	t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	return &cluster{brokers: []string{addr}}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// The controller listens on the next port: it must be free too.
		if ln2, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
			ln2.Close()
			return port
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}
