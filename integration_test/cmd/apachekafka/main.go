// Command apachekafka runs real Apache Kafka on loopback for a contributor,
// the load tool or CI: it resolves the jars of a version with Maven (cached in
// .cache/apache-kafka), starts one or three nodes, prints the bootstrap
// address on stdout and runs until interrupted.
//
//	go run ./integration_test/cmd/apachekafka --version 4.4.0 --nodes 1
//	go run ./integration_test/cmd/apachekafka --resolve-only --version 4.0.0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mimc-bridge/mimc-bridge/integration_test/apachekafka"
)

func main() {
	version := flag.String("version", apachekafka.DefaultVersion, "Apache Kafka version (from Maven Central)")
	nodes := flag.Int("nodes", 1, "combined broker+controller nodes: 1 or 3")
	dir := flag.String("dir", "", "data folder (default: a new temporary folder, removed at exit)")
	heap := flag.Int("heap-mb", 0, "heap per node in MiB (default 384)")
	resolveOnly := flag.Bool("resolve-only", false, "only download the jars into the cache, then exit")
	flag.Parse()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "apachekafka: "+format+"\n", args...) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *resolveOnly {
		cfg := apachekafka.Config{Version: *version, Dir: os.TempDir()}
		if _, err := apachekafka.ResolveConfig(ctx, cfg, logf); err != nil {
			logf("%v", err)
			os.Exit(1)
		}
		return
	}
	data := *dir
	if data == "" {
		d, err := os.MkdirTemp("", "apache-kafka-")
		if err != nil {
			logf("%v", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		data = d
	}
	c, err := apachekafka.Start(ctx, apachekafka.Config{Version: *version, Nodes: *nodes, Dir: data, HeapMB: *heap, Log: logf})
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(c.Bootstrap(apachekafka.Plaintext), ","))
	<-ctx.Done()
	logf("stopping")
	c.Close()
}
