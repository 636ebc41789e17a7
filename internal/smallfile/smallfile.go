// Package smallfile reads files that are meant to be small (a secret, a CA
// bundle) without trusting them to be: a path that names a huge file or a
// device such as /dev/zero costs at most the limit, not all the memory.
package smallfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is matched (errors.Is) by the error of Read for a file over
// its limit.
var ErrTooLarge = errors.New("file too large")

// TooLargeError is the error of Read for a file that holds more than Max bytes.
type TooLargeError struct {
	Path string
	Max  int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%q is too large: more than %s", e.Path, Size(e.Max))
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Read returns the content of the file at path, reading at most max+1 bytes.
// A file with more than max bytes gives a *TooLargeError; open and read
// errors are returned as they are (*os.PathError). The content never appears
// in an error.
func Read(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, &TooLargeError{Path: path, Max: max}
	}
	return b, nil
}

// Size shows a byte count the way limits are written: "4 KiB", "1 MiB",
// "1000 bytes".
func Size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
