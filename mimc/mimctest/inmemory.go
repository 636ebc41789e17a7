package mimctest

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// HTTPClient returns a client that serves its requests with s in the
// caller's goroutine, without sockets: a test can run a MIMC client against
// the fake inside a testing/synctest bubble, where time is virtual.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: inMemory{s}} }

type inMemory struct{ s *Server }

func (t inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	var w recorder
	t.s.ServeHTTP(&w, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(w.code) + " " + http.StatusText(w.code),
		StatusCode:    w.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.Header(),
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       r,
	}, nil
}

// recorder is the response of one in-memory request. It is not
// httptest.ResponseRecorder because this package is linked into the binary
// (the demo's sandbox), and httptest is for tests.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
