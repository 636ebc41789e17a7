package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/termtext"
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
	fs.StringVar(&f.ttl, "ttl", "", "ttl: the event's time to live in whole `seconds`, 1 to 2592000 (30 days), from its record's timestamp (absent: EVENT_TTL)")
	jsonArg := fs.String("json", "", `the event as JSON; "-" reads it from stdin`)
	// --from-resource is the FROM_RESOURCE setting's flag: given on the
	// command line it also becomes the event's fromResource.
	ld := config.RegisterOnly(fs, getenv, sendSettings...)
	fr := fs.Lookup("from-resource")
	fr.Usage = "fromResource of the event (the FROM_RESOURCE setting's flag: given here, it is written into the event)"
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id", "from-account", "to-account", "topic-id", "msg", "msg-type", "biz-type", "is-store", "ttl", "from-resource":
			f.given = append(f.given, "--"+fl.Name)
		}
	})
	jsonGiven := false
	fs.Visit(func(fl *flag.Flag) { jsonGiven = jsonGiven || fl.Name == "json" })

	cfg, code := settings("send", ld, s)
	if code != 0 {
		return code
	}
	if slices.Contains(f.given, "--from-resource") {
		f.fromResource = cfg.FromResource
	}

	// The event's bytes.
	var value []byte
	switch {
	case jsonGiven && len(f.given) > 0:
		return usageErr(s, "send", "--json cannot be combined with %s", f.given[0])
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
		return usageErr(s, "send", "no event: give flags (--from-account, --to-account or --topic-id, --msg) or JSON (--json '{...}', --json - or a pipe on stdin)")
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
			fmt.Fprintf(s.Err, "mimc-bridge send: the bridge would reject this event: %s\nnothing was produced\n", termtext.Escape(rej.Reason))
		} else {
			fmt.Fprintf(s.Err, "mimc-bridge send: %s\nnothing was produced\n", termtext.Escape(err.Error()))
		}
		return ExitFailed
	}
	var key []byte
	if ev.ID != src.DefaultID() {
		key = []byte(ev.ID)
	}

	ad, code := connect(ctx, "send", cfg, s, topic)
	if code != 0 {
		return code
	}
	defer ad.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	partition, offset, err := ad.ProduceKeyed(pctx, topic, key, value)
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge send: %v\n", err)
		return ExitFailed
	}
	id := ev.ID
	if key == nil {
		id = event.Source{Topic: topic, Partition: partition, Offset: offset}.DefaultID()
	}
	fmt.Fprintf(s.Out, "sent %s to %s partition %d offset %d\n", termtext.Escape(id), topic, partition, offset)
	return ExitOK
}

// sendSettings are the settings the send command reads: how to reach the
// brokers, the events topic, and what event.Decode needs to judge the event.
var sendSettings = append([]string{"KAFKA_TOPICS", "FROM_RESOURCE", "MAX_MSG_BYTES", "MAX_EVENT_RECIPIENTS"}, kafkaConnSettings...)

// sendFlags are the event fields given as flags.
type sendFlags struct {
	id, fromAccount, fromResource, msg, msgType, bizType string
	ttl                                                  string // as typed: event.Decode judges it
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
		TTL          any      `json:"ttl,omitempty"`
	}
	e := flagEvent{ID: f.id, FromAccount: f.fromAccount, FromResource: f.fromResource,
		Msg: f.msg, MsgType: f.msgType, BizType: f.bizType, IsStore: f.isStore.ptr()}
	if slices.Contains(f.given, "--ttl") {
		e.TTL = jsonNumberOrString(f.ttl)
	}
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

// jsonNumberOrString is s as a JSON number when it is one (so that 1.5 or
// 0 reach event.Decode as numbers and get its reason), else as a string,
// which Decode refuses as not a number.
func jsonNumberOrString(s string) any {
	if s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return s
}

// optBool is a boolean flag with a third state: not given. It is a value,
// not a pointer into shared state: ptr hands out a fresh copy.
type optBool struct{ set, v bool }

// ptr is nil when the flag was not given, else a pointer to a copy.
func (b optBool) ptr() *bool {
	if !b.set {
		return nil
	}
	v := b.v
	return &v
}

func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.set, b.v = true, v
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
