package kafka

import (
	"strconv"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/bridge"
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
const sourceHeaderCount = 6

// appendSourceHeaders appends the headers of outcome m written by group:
// its source, the group and, with a signer, its status and signature (see
// Signer). Their values go into buf, which must not grow while the headers
// are in use: the caller sizes it (sourceHeaderBytes per outcome).
func appendSourceHeaders(hs []kafkago.Header, buf []byte, sig *Signer, group []byte, m *bridge.Message) ([]kafkago.Header, []byte) {
	tp, offset := m.Source, m.SourceOffset
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
		kafkago.Header{Key: HeaderSourceTopic, Value: topic},
		kafkago.Header{Key: HeaderSourcePartition, Value: part},
		kafkago.Header{Key: HeaderSourceOffset, Value: off},
	)
	if len(group) > 0 {
		hs = append(hs, kafkago.Header{Key: HeaderGroup, Value: group})
	}
	if sig != nil {
		start = len(buf)
		buf = append(buf, m.Status...)
		status := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = sig.appendSignature(buf, &signedFields{group: group, topic: topic, partition: part, offset: off, id: m.Key, status: status})
		hs = append(hs,
			kafkago.Header{Key: HeaderStatus, Value: status},
			kafkago.Header{Key: HeaderSignature, Value: buf[start:len(buf):len(buf)]},
		)
	}
	return hs, buf
}

// sourceHeaderBytes is the room appendSourceHeaders needs in buf for
// outcome m: its source topic, two decimal numbers, its status and a
// signature.
func sourceHeaderBytes(m *bridge.Message) int {
	return len(m.Source.Topic) + 2*20 + len(m.Status) + signatureLen
}

// outcomeSource is what the headers of one outcome record say.
type outcomeSource struct {
	group  []byte
	topic  []byte
	part   int
	offset int64
	ok     bool // all three source headers are present and valid

	// As written, for checking the signature.
	partText, offsetText, status, signature []byte
}

// signed reports whether the outcome's signature, over these headers and
// the record's key, checks with sig.
func (s *outcomeSource) signed(sig *Signer, key []byte) bool {
	return sig.verify(s.signature, &signedFields{group: s.group, topic: s.topic, partition: s.partText, offset: s.offsetText, id: key, status: s.status})
}

// parseSourceHeaders reads the headers of one outcome record. Values alias
// the headers' memory.
func parseSourceHeaders(hs []kafkago.Header) outcomeSource {
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
			s.part, havePart, s.partText = int(n), err == nil && n >= 0, h.Value
		case HeaderSourceOffset:
			n, err := strconv.ParseInt(string(h.Value), 10, 64)
			s.offset, haveOff, s.offsetText = n, err == nil && n >= 0, h.Value
		case HeaderStatus:
			s.status = h.Value
		case HeaderSignature:
			s.signature = h.Value
		}
	}
	s.ok = len(s.topic) > 0 && havePart && haveOff
	return s
}
