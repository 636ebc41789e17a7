package bridge

import "syscall"

// adviseHugePages asks for transparent huge pages under b, where the
// system gives them on request (THP "madvise"). The dedup window's index is
// read at a random slot per event: with 4 KiB pages nearly every lookup
// also misses the TLB, which on a virtual machine costs a two-level page
// walk. The index is touched all over within a few thousand events, so
// 2 MiB pages cost no more memory once it is in use. A refusal only leaves
// the small pages.
func adviseHugePages(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
