package mimc

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mimc-bridge/mimc-bridge/internal/jsonw"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// The request body is written by hand: it is the hot path (a call to 100
// recipients), and a reflection-based json.Marshal of a map costs several
// times the time and allocations. Strings are quoted by jsonw.AppendString,
// exactly as encoding/json quotes them.

// The keys of a request body, with the punctuation before their values:
// writeBody writes them and BodySize counts them.
const (
	keyAppID        = `{"appId":`
	keyAppKey       = `,"appKey":`
	keyAppSecret    = `,"appSecret":`
	keyFromAccount  = `,"fromAccount":`
	keyFromResource = `,"fromResource":`
	keyToAccount    = `,"toAccount":`
	keyToAccounts   = `,"toAccounts":[`
	keyTopicID      = `,"topicId":`
	keyTopicIDs     = `,"topicIds":[`
	keyMsg          = `,"msg":`
	keyMsgType      = `,"msgType":`
	keyBizType      = `,"bizType":`
	isStoreTrue     = `,"isStore":true`
	isStoreFalse    = `,"isStore":false`
)

// writeBody writes the JSON request body of call to buf. many selects the
// /more form (toAccounts/topicIds) over the single one (toAccount/topicId).
func writeBody(buf *bytes.Buffer, cr *Credentials, call *Call, many bool) {
	buf.WriteString(keyAppID)
	writeString(buf, cr.AppID)
	buf.WriteString(keyAppKey)
	writeString(buf, cr.AppKey)
	buf.WriteString(keyAppSecret)
	writeString(buf, cr.AppSecret.Reveal())
	buf.WriteString(keyFromAccount)
	writeString(buf, call.FromAccount)
	buf.WriteString(keyFromResource)
	writeString(buf, call.FromResource)
	switch {
	case call.Kind == message.P2P && !many:
		buf.WriteString(keyToAccount)
		writeString(buf, call.ToAccounts[0])
	case call.Kind == message.P2P:
		buf.WriteString(keyToAccounts)
		for i, a := range call.ToAccounts {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, a)
		}
		buf.WriteByte(']')
	case !many:
		buf.WriteString(keyTopicID)
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), call.TopicIDs[0], 10))
	default:
		buf.WriteString(keyTopicIDs)
		for i, id := range call.TopicIDs {
			b := buf.AvailableBuffer()
			if i > 0 {
				b = append(b, ',')
			}
			buf.Write(strconv.AppendInt(b, id, 10))
		}
		buf.WriteByte(']')
	}
	buf.WriteString(keyMsg)
	writeString(buf, call.Msg)
	buf.WriteString(keyMsgType)
	writeString(buf, call.MsgType)
	if call.BizType != "" {
		buf.WriteString(keyBizType)
		writeString(buf, call.BizType)
	}
	switch call.IsStore {
	case message.StoreTrue:
		buf.WriteString(isStoreTrue)
	case message.StoreFalse:
		buf.WriteString(isStoreFalse)
	}
	buf.WriteByte('}')
}

// BodySize measures request bodies as writeBody writes them, without
// writing them, so that a batcher can cut calls by size (it is a
// batching.Sizer): a call of content c to n >= 1 recipients takes exactly
// Empty(c) plus Account or TopicID of each recipient in the /more form, and
// 3 bytes less in the single form.
type BodySize struct {
	fixed int // credentials, the keys every body has, and the braces
}

func newBodySize(cr *Credentials) BodySize {
	return BodySize{fixed: len(keyAppID) + jsonw.Len(cr.AppID) + len(keyAppKey) + jsonw.Len(cr.AppKey) +
		len(keyAppSecret) + jsonw.Len(cr.AppSecret.Reveal()) + len(keyFromAccount) + len(keyFromResource) +
		len(keyMsg) + len(keyMsgType) + len("}")}
}

// Empty is the size of a body of c without its recipients: every recipient
// is counted with a comma, which the last one does not have.
func (s BodySize) Empty(c *message.Content) int {
	n := s.fixed + jsonw.Len(c.FromAccount) + jsonw.Len(c.FromResource) + jsonw.Len(c.Msg) + jsonw.Len(c.MsgType)
	if c.Kind == message.P2T {
		n += len(keyTopicIDs) + len("]") - len(",")
	} else {
		n += len(keyToAccounts) + len("]") - len(",")
	}
	if c.BizType != "" {
		n += len(keyBizType) + jsonw.Len(c.BizType)
	}
	switch c.IsStore {
	case message.StoreTrue:
		n += len(isStoreTrue)
	case message.StoreFalse:
		n += len(isStoreFalse)
	}
	return n
}

// Account is the size of an account in toAccounts, with its comma.
func (BodySize) Account(a string) int { return jsonw.Len(a) + len(",") }

// TopicID is the size of a topic id in topicIds, with its comma.
func (BodySize) TopicID(id int64) int {
	var b [20]byte
	return len(strconv.AppendInt(b[:0], id, 10)) + len(",")
}

func writeString(buf *bytes.Buffer, s string) {
	buf.Write(jsonw.AppendString(buf.AvailableBuffer(), s))
}

// maxPooledBuffer keeps unusually large buffers out of the pool.
const maxPooledBuffer = 1 << 20

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := bufferPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	bufferPool.Put(b)
}

// sharedBody is a pooled request body shared by the attempts of one call.
// The HTTP transport may still read a request body after Do returns, so the
// buffer goes back to the pool only when the call and every body handed to
// the transport are done with it.
type sharedBody struct {
	buf  *bytes.Buffer
	refs atomic.Int32
}

func newSharedBody(buf *bytes.Buffer) *sharedBody {
	s := &sharedBody{buf: buf}
	s.refs.Store(1) // the call's own reference
	return s
}

func (s *sharedBody) release() {
	if s.refs.Add(-1) == 0 {
		putBuffer(s.buf)
		s.buf = nil
	}
}

// reader returns a new body reading the whole buffer; its Close releases it.
func (s *sharedBody) reader() *bodyReader {
	s.refs.Add(1)
	return &bodyReader{Reader: bytes.NewReader(s.buf.Bytes()), owner: s}
}

type bodyReader struct {
	*bytes.Reader
	owner  *sharedBody
	closed atomic.Bool
}

func (r *bodyReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.owner.release()
	}
	return nil
}
