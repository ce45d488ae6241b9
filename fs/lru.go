package fs

import (
	"container/list"
	"sync"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// The kernel keeps every dentry it looked up while it has memory to spare,
// and go-fuse keeps a node for each (measured: 2.4 GiB after one find over
// a million files). So the file system bounds what it hands out: names
// handed to the kernel (files, directories and symlinks below a snapshot
// or /a/) are kept in a least-recently-looked-up list, and past
// Config.MaxNodes the oldest is invalidated (NotifyEntry). The kernel then
// drops the dentry and, unless a process holds the inode, forgets it, and
// the node goes. A name looked up again is simply looked up afresh; an
// open file or a working directory stays valid.

// dentryKey is a name the kernel may cache in a directory.
type dentryKey struct {
	parent *fusefs.Inode
	name   string
}

// nodeLRU orders the names handed out by their last lookup. Safe for
// concurrent use; touch never blocks on the kernel.
type nodeLRU struct {
	mu    sync.Mutex
	max   int
	order *list.List // of dentryKey, most recent first
	index map[dentryKey]*list.Element
	out   chan dentryKey // to the evicting goroutine
}

func newNodeLRU(max int) *nodeLRU {
	return &nodeLRU{max: max, order: list.New(), index: map[dentryKey]*list.Element{}, out: make(chan dentryKey, 1024)}
}

// touch records that name in parent was just handed to the kernel and
// queues the oldest names past the bound for invalidation. A full queue
// leaves them in the list for the next touch: the bound is then exceeded
// for a moment, never forgotten.
func (l *nodeLRU) touch(parent *fusefs.Inode, name string) {
	if l == nil {
		return
	}
	k := dentryKey{parent, name}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.index[k]; ok {
		l.order.MoveToFront(e)
	} else {
		l.index[k] = l.order.PushFront(k)
	}
	for l.order.Len() > l.max {
		oldest := l.order.Back()
		select {
		case l.out <- oldest.Value.(dentryKey):
			l.order.Remove(oldest)
			delete(l.index, oldest.Value.(dentryKey))
		default:
			return
		}
	}
}

// evict invalidates queued names until stop is closed. It runs on its own
// goroutine, apart from the notifier of activations, so that a burst of
// evictions never delays a switch of /current.
func (l *nodeLRU) evict(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case k := <-l.out:
			// ENOENT: the kernel had already dropped it.
			k.parent.NotifyEntry(k.name)
		}
	}
}

// NodeCount returns how many nodes below snapshots and /a/ the file system
// keeps for the kernel: directories and file inodes (symlinks are not
// counted; they hold only their target).
func (f *FS) NodeCount() int {
	f.dirsMu.Lock()
	n := len(f.dirs)
	f.dirsMu.Unlock()
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	return n + len(f.inos)
}
