package fs

import fusefs "github.com/hanwen/go-fuse/v2/fs"

// The operations each node implements; nothing mutating, so go-fuse
// refuses every write.
var (
	_ fusefs.NodeOnAdder        = (*rootNode)(nil)
	_ fusefs.NodeLookuper       = (*rootNode)(nil)
	_ fusefs.NodeReaddirer      = (*rootNode)(nil)
	_ fusefs.NodeGetattrer      = (*rootNode)(nil)
	_ fusefs.NodeStatfser       = (*rootNode)(nil)
	_ fusefs.NodeLookuper       = (*refsNode)(nil)
	_ fusefs.NodeReaddirer      = (*refsNode)(nil)
	_ fusefs.NodeLookuper       = (*snapshotsNode)(nil)
	_ fusefs.NodeReaddirer      = (*snapshotsNode)(nil)
	_ fusefs.NodeLookuper       = (*hashNode)(nil)
	_ fusefs.NodeReaddirer      = (*hashNode)(nil)
	_ fusefs.NodeLookuper       = (*dirNode)(nil)
	_ fusefs.NodeGetattrer      = (*dirNode)(nil)
	_ fusefs.NodeOnForgetter    = (*dirNode)(nil)
	_ fusefs.NodeOpendirHandler = (*dirNode)(nil)
	_ fusefs.FileReaddirenter   = (*listing)(nil)
	_ fusefs.FileSeekdirer      = (*listing)(nil)
	_ fusefs.FileReleasedirer   = (*listing)(nil)
	_ fusefs.NodeGetattrer      = (*fileNode)(nil)
	_ fusefs.NodeOpener         = (*fileNode)(nil)
	_ fusefs.NodeFlusher        = (*fileNode)(nil)
	_ fusefs.NodeReader         = (*fileNode)(nil)
	_ fusefs.NodeOnForgetter    = (*fileNode)(nil)
	_ fusefs.NodeReadlinker     = (*symlinkNode)(nil)
	_ fusefs.NodeGetattrer      = (*symlinkNode)(nil)
)
