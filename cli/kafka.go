package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/kafka"
)

// kafkaConnSettings are the settings that say how to reach the brokers.
var kafkaConnSettings = []string{
	"KAFKA_BROKERS", "KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
}

// settings loads and checks the settings of command cmd (not what only run
// needs); on a bad one it prints every problem and returns ExitUsage.
func settings(cmd string, ld *config.Loader, s Streams) (config.Config, int) {
	warnUnknownEnv(s.Err, cmd)
	cfg, err := ld.Config()
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		return cfg, settingsErr(s.Err, cmd, err)
	}
	return cfg, 0
}

// settingsErr prints the bad settings of err for command cmd and returns
// the exit code of bad settings.
func settingsErr(w io.Writer, cmd string, err error) int {
	fmt.Fprintf(w, "mimc-bridge %s: invalid settings:\n%s\n", cmd, indent(err.Error()))
	return ExitUsage
}

// connect reaches the brokers of cfg for command cmd and checks, bounded in
// time, that they answer and that topics exist. Missing brokers are a usage
// error; brokers that cannot be used are a failure.
func connect(ctx context.Context, cmd string, cfg config.Config, s Streams, topics ...string) (*kafka.Admin, int) {
	if len(cfg.KafkaBrokers) == 0 {
		return nil, settingsErr(s.Err, cmd, &config.Error{Name: "KAFKA_BROKERS", Msg: "required: comma-separated host:port"})
	}
	conn, err := kafkaConn(cfg)
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge %s: %v\n", cmd, err)
		return nil, ExitUsage
	}
	ad := kafka.NewAdmin(conn)
	if err := probe(ctx, ad, topics...); err != nil {
		ad.Close()
		fmt.Fprintf(s.Err, "mimc-bridge %s: %v\n", cmd, err)
		return nil, ExitFailed
	}
	return ad, 0
}

// probe checks, bounded in time, that the brokers answer and the topics
// exist.
func probe(ctx context.Context, ad *kafka.Admin, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return ad.Probe(ctx, topics...)
}

// offsets returns the first and end offsets of every partition of topic,
// bounded in time.
func offsets(ctx context.Context, ad *kafka.Admin, topic string) (first, end map[int]int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return ad.Offsets(ctx, topic)
}

// results is the results topic opened for reading, as outcomes and replay
// read it: the settings, a connection, and its offsets when it was opened.
type results struct {
	cfg        config.Config
	ad         *kafka.Admin
	first, end map[int]int64
}

// openResults loads the settings of command cmd, reaches the brokers and
// takes the results topic's offsets. On failure it has said why and returns
// the exit code; on success the caller closes r.ad.
func openResults(ctx context.Context, cmd string, ld *config.Loader, s Streams) (r results, code int) {
	if r.cfg, code = settings(cmd, ld, s); code != 0 {
		return r, code
	}
	if r.ad, code = connect(ctx, cmd, r.cfg, s, r.cfg.ResultsTopic); code != 0 {
		return r, code
	}
	var err error
	if r.first, r.end, err = offsets(ctx, r.ad, r.cfg.ResultsTopic); err != nil {
		r.ad.Close()
		fmt.Fprintf(s.Err, "mimc-bridge %s: %v\n", cmd, err)
		return r, ExitFailed
	}
	return r, 0
}
