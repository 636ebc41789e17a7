package mimc

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// The request body is written by hand: it is the hot path (a call to 100
// recipients), and a reflection-based json.Marshal of a map costs several
// times the time and allocations. appendJSONString produces exactly what
// encoding/json produces with SetEscapeHTML(false); a fuzz test holds it to that.

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
	buf.Write(appendJSONString(buf.AvailableBuffer(), s))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: the escapes of encoding/json
// without HTML escaping; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
