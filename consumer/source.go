package consumer

import (
	"strconv"

	"github.com/segmentio/kafka-go"
)

// The headers of an outcome record name the input record it is the outcome
// of and the consumer group that wrote it. The next owner of a partition
// reads them, not the JSON, to find what is already done (Scanner), and an
// outcome of another group sharing the results topic is told apart.
const (
	HeaderSourceTopic     = "mimc-bridge.source.topic"
	HeaderSourcePartition = "mimc-bridge.source.partition"
	HeaderSourceOffset    = "mimc-bridge.source.offset"
	HeaderGroup           = "mimc-bridge.group"
)

// sourceHeaderCount is how many headers appendSourceHeaders adds at most.
const sourceHeaderCount = 4

// appendSourceHeaders appends the headers of an outcome of (tp, offset)
// written by group. Their values go into buf, which must not grow while the
// headers are in use: the caller sizes it (sourceHeaderBytes per outcome).
func appendSourceHeaders(hs []kafka.Header, buf []byte, group []byte, tp TopicPartition, offset int64) ([]kafka.Header, []byte) {
	if tp.Topic == "" {
		return hs, buf
	}
	start := len(buf)
	buf = append(buf, tp.Topic...)
	topic := buf[start:len(buf):len(buf)]
	start = len(buf)
	buf = strconv.AppendInt(buf, int64(tp.Partition), 10)
	part := buf[start:len(buf):len(buf)]
	start = len(buf)
	buf = strconv.AppendInt(buf, offset, 10)
	off := buf[start:len(buf):len(buf)]
	hs = append(hs,
		kafka.Header{Key: HeaderSourceTopic, Value: topic},
		kafka.Header{Key: HeaderSourcePartition, Value: part},
		kafka.Header{Key: HeaderSourceOffset, Value: off},
	)
	if len(group) > 0 {
		hs = append(hs, kafka.Header{Key: HeaderGroup, Value: group})
	}
	return hs, buf
}

// sourceHeaderBytes is the room appendSourceHeaders needs in buf for an
// outcome of a record of topic: the topic and two decimal numbers.
func sourceHeaderBytes(topic string) int { return len(topic) + 2*20 }

// outcomeSource is what the headers of one outcome record say.
type outcomeSource struct {
	group  []byte
	topic  []byte
	part   int
	offset int64
	ok     bool // all three source headers are present and valid
}

// parseSourceHeaders reads the headers of one outcome record. Values alias
// the headers' memory.
func parseSourceHeaders(hs []kafka.Header) outcomeSource {
	var s outcomeSource
	var havePart, haveOff bool
	for _, h := range hs {
		switch h.Key {
		case HeaderGroup:
			s.group = h.Value
		case HeaderSourceTopic:
			s.topic = h.Value
		case HeaderSourcePartition:
			n, err := strconv.ParseInt(string(h.Value), 10, 32)
			s.part, havePart = int(n), err == nil && n >= 0
		case HeaderSourceOffset:
			n, err := strconv.ParseInt(string(h.Value), 10, 64)
			s.offset, haveOff = n, err == nil && n >= 0
		}
	}
	s.ok = len(s.topic) > 0 && havePart && haveOff
	return s
}
