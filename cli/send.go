package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
)

// maxSendInput bounds the JSON read from stdin.
const maxSendInput = 4 << 20

// sendCommand produces one event to the first KAFKA_TOPICS topic.
//
// The event comes from flags, or as JSON from --json (an argument, or "-"
// for stdin), or from stdin when no event flag is given and stdin is not a
// terminal. It is validated by event.Decode first: a bad event is refused
// with the bridge's own reason and nothing is produced. Flags produce the
// JSON they describe; JSON input is produced as given (surrounding white
// space trimmed). The key is the event's id (none when the event has no id:
// the partition is then random), acks=all, and the partition and offset are
// printed.
func sendCommand(ctx context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var f sendFlags
	fs.StringVar(&f.id, "id", "", "event id (the record key); default: the bridge names it <topic>/<partition>/<offset>")
	fs.StringVar(&f.fromAccount, "from-account", "", "fromAccount (required)")
	fs.Var(&f.toAccounts, "to-account", "p2p recipient account (repeatable or comma-separated)")
	fs.Var(&f.topicIDs, "topic-id", "p2t recipient topic id (repeatable or comma-separated)")
	fs.StringVar(&f.msg, "msg", "", "the message (required)")
	fs.StringVar(&f.msgType, "msg-type", "", `msgType: "" (text) or "base64"`)
	fs.StringVar(&f.bizType, "biz-type", "", "bizType")
	fs.Var(&f.isStore, "is-store", "isStore: --is-store or --is-store=false (absent: MIMC's default)")
	jsonArg := fs.String("json", "", `the event as JSON; "-" reads it from stdin`)
	// --from-resource is the FROM_RESOURCE setting's flag: given on the
	// command line it also becomes the event's fromResource.
	ld := config.Register(fs, getenv)
	fr := fs.Lookup("from-resource")
	fr.Usage = "fromResource of the event (the FROM_RESOURCE setting's flag: given here, it is written into the event)"
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id", "from-account", "to-account", "topic-id", "msg", "msg-type", "biz-type", "is-store", "from-resource":
			f.given = append(f.given, "--"+fl.Name)
		}
	})
	jsonGiven := false
	fs.Visit(func(fl *flag.Flag) { jsonGiven = jsonGiven || fl.Name == "json" })

	cfg, err := ld.Config()
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge send: invalid settings:\n%s\n", indent(err.Error()))
		return ExitUsage
	}
	if slices.Contains(f.given, "--from-resource") {
		f.fromResource = cfg.FromResource
	}

	// The event's bytes.
	var value []byte
	switch {
	case jsonGiven && len(f.given) > 0:
		fmt.Fprintf(s.Err, "mimc-bridge send: --json cannot be combined with %s\n", f.given[0])
		return ExitUsage
	case jsonGiven && *jsonArg != "-":
		value = []byte(*jsonArg)
	case jsonGiven || len(f.toAccounts) == 0 && len(f.topicIDs) == 0 && len(f.given) == 0 && !isTerminal(s.In):
		b, err := io.ReadAll(io.LimitReader(orEmpty(s.In), maxSendInput+1))
		if err != nil {
			fmt.Fprintf(s.Err, "mimc-bridge send: reading stdin: %v\n", err)
			return ExitFailed
		}
		if len(b) > maxSendInput {
			fmt.Fprintf(s.Err, "mimc-bridge send: stdin holds more than %d bytes\n", maxSendInput)
			return ExitUsage
		}
		value = b
	case len(f.given) == 0:
		fmt.Fprintln(s.Err, "mimc-bridge send: no event: give flags (--from-account, --to-account or --topic-id, --msg) or JSON (--json '{...}', --json - or a pipe on stdin)")
		return ExitUsage
	default:
		value = f.json()
	}
	value = bytes.TrimSpace(value)
	if len(value) == 0 {
		fmt.Fprintln(s.Err, "mimc-bridge send: the event is empty")
		return ExitUsage
	}

	// Validate exactly as the bridge will.
	topic := cfg.KafkaTopics[0]
	src := event.Source{Topic: topic, Partition: -1, Offset: -1}
	ev, err := event.Decode(value, src, event.Limits{
		MaxMsgBytes: cfg.MaxMsgBytes, MaxRecipients: cfg.MaxEventRecipients, DefaultFromResource: cfg.FromResource,
	})
	if err != nil {
		var rej *event.RejectError
		if errors.As(err, &rej) {
			fmt.Fprintf(s.Err, "mimc-bridge send: the bridge would reject this event: %s\nnothing was produced\n", rej.Reason)
		} else {
			fmt.Fprintf(s.Err, "mimc-bridge send: %v\nnothing was produced\n", err)
		}
		return ExitFailed
	}
	var key []byte
	if ev.ID != src.DefaultID() {
		key = []byte(ev.ID)
	}

	if len(cfg.KafkaBrokers) == 0 {
		fmt.Fprintf(s.Err, "mimc-bridge send: invalid settings:\n%s\n",
			indent((&config.Error{Name: "KAFKA_BROKERS", Msg: "required: comma-separated host:port"}).Error()))
		return ExitUsage
	}
	conn, err := consumer.NewConn(consumer.ConnConfig{
		Brokers: cfg.KafkaBrokers, TLS: cfg.KafkaTLS, TLSCAFile: cfg.KafkaTLSCAFile,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUsername: cfg.KafkaSASLUsername, SASLPassword: cfg.KafkaSASLPassword,
	})
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge send: %v\n", err)
		return ExitUsage
	}
	if err := probe(ctx, conn, topic); err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge send: %v\n", err)
		return ExitFailed
	}
	tr := conn.Transport()
	defer tr.CloseIdleConnections()
	partition, offset, err := produceOne(ctx, kafkaClient(conn, tr), topic, key, value)
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge send: %v\n", err)
		return ExitFailed
	}
	id := ev.ID
	if key == nil {
		id = event.Source{Topic: topic, Partition: partition, Offset: offset}.DefaultID()
	}
	fmt.Fprintf(s.Out, "sent %s to %s partition %d offset %d\n", id, topic, partition, offset)
	return ExitOK
}

// produceOne writes one record with acks=all to the partition its key hashes
// to (murmur2, as the Java client and kafka-go's Murmur2Balancer do), or to a
// random partition without a key, and returns where it landed.
func produceOne(ctx context.Context, cl *kafka.Client, topic string, key, value []byte) (partition int, offset int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ps, err := consumer.Partitions(ctx, cl, topic)
	if err != nil {
		return 0, 0, err
	}
	if len(ps) == 0 {
		return 0, 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	if key != nil {
		partition = kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, ps...)
	} else {
		partition = ps[rand.IntN(len(ps))]
	}
	offsets, err := produce(ctx, cl, topic, partition, []kafka.Record{{Key: nilOrBytes(key), Value: kafka.NewBytes(value), Time: time.Now()}})
	if err != nil {
		return 0, 0, err
	}
	return partition, offsets, nil
}

// produce writes records to one partition with acks=all and returns the
// offset of the first.
func produce(ctx context.Context, cl *kafka.Client, topic string, partition int, recs []kafka.Record) (int64, error) {
	resp, err := cl.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...),
	})
	if err != nil {
		return 0, fmt.Errorf("producing to %s/%d: %w", topic, partition, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("producing to %s/%d: %w", topic, partition, resp.Error)
	}
	for i, err := range resp.RecordErrors {
		return 0, fmt.Errorf("producing to %s/%d: record %d: %w", topic, partition, i, err)
	}
	return resp.BaseOffset, nil
}

func nilOrBytes(b []byte) kafka.Bytes {
	if b == nil {
		return nil
	}
	return kafka.NewBytes(b)
}

// sendFlags are the event fields given as flags.
type sendFlags struct {
	id, fromAccount, fromResource, msg, msgType, bizType string
	toAccounts, topicIDs                                 listFlag
	isStore                                              optBool
	given                                                []string // event flags on the command line
}

// json returns the event the flags describe: a single recipient as
// toAccount/topicId, several as toAccounts/topicIds (topic ids as strings,
// which are 64-bit safe). Event.Decode judges the result.
func (f *sendFlags) json() []byte {
	type flagEvent struct {
		ID           string   `json:"id,omitempty"`
		FromAccount  string   `json:"fromAccount,omitempty"`
		FromResource string   `json:"fromResource,omitempty"`
		ToAccount    string   `json:"toAccount,omitempty"`
		ToAccounts   []string `json:"toAccounts,omitempty"`
		TopicID      string   `json:"topicId,omitempty"`
		TopicIDs     []string `json:"topicIds,omitempty"`
		Msg          string   `json:"msg"`
		MsgType      string   `json:"msgType,omitempty"`
		BizType      string   `json:"bizType,omitempty"`
		IsStore      *bool    `json:"isStore,omitempty"`
	}
	e := flagEvent{ID: f.id, FromAccount: f.fromAccount, FromResource: f.fromResource,
		Msg: f.msg, MsgType: f.msgType, BizType: f.bizType, IsStore: f.isStore.v}
	if len(f.toAccounts) == 1 {
		e.ToAccount = f.toAccounts[0]
	} else {
		e.ToAccounts = f.toAccounts
	}
	if len(f.topicIDs) == 1 {
		e.TopicID = f.topicIDs[0]
	} else {
		e.TopicIDs = f.topicIDs
	}
	b, _ := json.Marshal(e) // strings, slices and a bool always marshal
	return b
}

// optBool is a boolean flag that remembers whether it was given.
type optBool struct{ v *bool }

func (b *optBool) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.v = &v
	return nil
}

func (b *optBool) IsBoolFlag() bool { return true }

// isTerminal reports whether r is a character device such as a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return r == nil
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return bytes.NewReader(nil)
	}
	return r
}
