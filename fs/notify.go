package fs

import (
	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// notifier sends kernel invalidations from one goroutine. An invalidation
// sent from inside a FUSE handler for the same directory deadlocks the
// daemon and its caller (the kernel holds the directory's lock), so no
// handler ever sends or waits for one.
type notifier struct {
	reqs chan notifyReq
}

type notifyReq struct {
	parent *fusefs.Inode
	name   string
	done   chan struct{}
}

func newNotifier() *notifier {
	n := &notifier{reqs: make(chan notifyReq, 64)}
	go n.run()
	return n
}

func (n *notifier) run() {
	for r := range n.reqs {
		// ENOENT (the kernel had no such entry) and ENOSYS (not
		// mounted yet) both mean there is nothing stale to drop.
		r.parent.NotifyEntry(r.name)
		close(r.done)
	}
}

// entry invalidates (parent, name) and waits until the kernel has done so.
func (n *notifier) entry(parent *fusefs.Inode, name string) {
	if parent == nil {
		return
	}
	done := make(chan struct{})
	n.reqs <- notifyReq{parent: parent, name: name, done: done}
	<-done
}

func (n *notifier) close() { close(n.reqs) }
