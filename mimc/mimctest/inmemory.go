package mimctest

import (
	"net/http"
	"net/http/httptest"
)

// HTTPClient returns a client that serves its requests with s in the
// caller's goroutine, without sockets: a test can run a MIMC client against
// the fake inside a testing/synctest bubble, where time is virtual.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: inMemory{s}} }

type inMemory struct{ s *Server }

func (t inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return rec.Result(), nil
}
