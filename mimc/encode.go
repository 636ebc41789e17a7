package mimc

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mimc-bridge/mimc-bridge/internal/jsonw"
)

// The request body is written by hand: it is the hot path (a call to 100
// recipients), and a reflection-based json.Marshal of a map costs several
// times the time and allocations. Strings are quoted by jsonw.AppendString,
// exactly as encoding/json quotes them.

// writeBody writes the JSON request body of call to buf. many selects the
// /more form (toAccounts/topicIds) over the single one (toAccount/topicId).
func writeBody(buf *bytes.Buffer, cr *Credentials, call *Call, many bool) {
	buf.WriteString(`{"appId":`)
	writeString(buf, cr.AppID)
	buf.WriteString(`,"appKey":`)
	writeString(buf, cr.AppKey)
	buf.WriteString(`,"appSecret":`)
	writeString(buf, cr.AppSecret.Reveal())
	buf.WriteString(`,"fromAccount":`)
	writeString(buf, call.FromAccount)
	buf.WriteString(`,"fromResource":`)
	writeString(buf, call.FromResource)
	switch {
	case call.Kind == P2P && !many:
		buf.WriteString(`,"toAccount":`)
		writeString(buf, call.ToAccounts[0])
	case call.Kind == P2P:
		buf.WriteString(`,"toAccounts":[`)
		for i, a := range call.ToAccounts {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, a)
		}
		buf.WriteByte(']')
	case !many:
		buf.WriteString(`,"topicId":`)
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), call.TopicIDs[0], 10))
	default:
		buf.WriteString(`,"topicIds":[`)
		for i, id := range call.TopicIDs {
			b := buf.AvailableBuffer()
			if i > 0 {
				b = append(b, ',')
			}
			buf.Write(strconv.AppendInt(b, id, 10))
		}
		buf.WriteByte(']')
	}
	buf.WriteString(`,"msg":`)
	writeString(buf, call.Msg)
	buf.WriteString(`,"msgType":`)
	writeString(buf, call.MsgType)
	if call.BizType != "" {
		buf.WriteString(`,"bizType":`)
		writeString(buf, call.BizType)
	}
	if call.IsStore != nil {
		if *call.IsStore {
			buf.WriteString(`,"isStore":true`)
		} else {
			buf.WriteString(`,"isStore":false`)
		}
	}
	buf.WriteByte('}')
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
