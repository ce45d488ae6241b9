package fs

import (
	"sync"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// notifier sends kernel invalidations from one goroutine. An invalidation
// sent from inside a FUSE handler for the same directory deadlocks the
// daemon and its caller (the kernel holds the directory's lock), so no
// handler ever sends or waits for one.
type notifier struct {
	reqs chan notifyReq
	// stop ends run; entry never sends on a closed channel, so a late
	// caller after unmount returns at once instead of panicking.
	stop      chan struct{}
	closeOnce sync.Once
}

type notifyReq struct {
	parent *fusefs.Inode
	name   string
	done   chan struct{}
}

func newNotifier() *notifier {
	n := &notifier{reqs: make(chan notifyReq, 64), stop: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) run() {
	for {
		select {
		case <-n.stop:
			return
		case r := <-n.reqs:
			// ENOENT (the kernel had no such entry) and ENOSYS (not
			// mounted yet) both mean there is nothing stale to drop.
			r.parent.NotifyEntry(r.name)
			close(r.done)
		}
	}
}

// entry invalidates (parent, name) and waits until the kernel has done so.
func (n *notifier) entry(parent *fusefs.Inode, name string) {
	if parent == nil {
		return
	}
	done := make(chan struct{})
	select {
	case n.reqs <- notifyReq{parent: parent, name: name, done: done}:
	case <-n.stop:
		return // unmounted: the kernel holds nothing to invalidate
	}
	select {
	case <-done:
	case <-n.stop:
	}
}

func (n *notifier) close() { n.closeOnce.Do(func() { close(n.stop) }) }
