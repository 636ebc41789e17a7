package smallfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("a file of exactly the limit is read whole", func(t *testing.T) {
		b, err := Read(write("exact", 100), 100)
		if err != nil || len(b) != 100 {
			t.Errorf("%d bytes, %v", len(b), err)
		}
	})
	t.Run("a file one byte over the limit is too large", func(t *testing.T) {
		p := write("over", 101)
		_, err := Read(p, 100)
		var tl *TooLargeError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Path != p || tl.Max != 100 {
			t.Errorf("err %v", err)
		}
		if err != nil && strings.Contains(err.Error(), "xxx") {
			t.Errorf("the error shows the content: %v", err)
		}
	})
	t.Run("a device that never ends is too large, not read whole", func(t *testing.T) {
		_, err := Read("/dev/zero", 4<<10)
		if !errors.Is(err, ErrTooLarge) || err.Error() != `"/dev/zero" is too large: more than 4 KiB` {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a missing file is a path error", func(t *testing.T) {
		_, err := Read(filepath.Join(dir, "missing"), 100)
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a directory is a read error", func(t *testing.T) {
		if _, err := Read(dir, 100); err == nil || errors.Is(err, ErrTooLarge) {
			t.Errorf("err %v", err)
		}
	})
}

func TestSizeWritesLimitsAsTheyAreSpoken(t *testing.T) {
	for n, want := range map[int]string{4 << 10: "4 KiB", 1 << 20: "1 MiB", 1000: "1000 bytes", 1536: "1536 bytes", 0: "0 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
