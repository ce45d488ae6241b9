package cluster

import (
	"context"

	"github.com/vfs-project/vfs/store"
)

// PullFrom pulls id from srcs, in order, as a release's stage does.
func (n *Node) PullFrom(ctx context.Context, id store.Ref, srcs []string) error {
	return n.pullFrom(ctx, "test", 1, id, srcs)
}
