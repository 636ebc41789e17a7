package cli

import "time"

// SetProgressEvery sets how often long runs report progress and returns a
// function that restores it.
func SetProgressEvery(d time.Duration) func() {
	old := progressEvery
	progressEvery = d
	return func() { progressEvery = old }
}
