package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/store"
)

// Signed releases: under a signing policy (vfsd --allowed-signers) a
// member stages and applies only a snapshot with a valid signature, and
// says why not in cluster status. Signatures travel with a pull; a member
// that holds the snapshot without one (pulled before it was signed, or
// from an older vfsd) asks the release's sources for theirs.

// allowed is nil when ref may serve snapshot id here; otherwise it first
// fetches the snapshot's signatures from the sources of a release from
// origin, and asks again.
func (n *Node) allowed(ctx context.Context, ref string, id store.Ref, origin string) error {
	err := n.local.Allowed(ref, id)
	if !errors.Is(err, sign.ErrUnsigned) {
		return err
	}
	srcs, serr := n.sources(ctx, id, origin)
	if serr == nil {
		for _, addr := range srcs {
			if n.bad.waiting(addr) != "" {
				continue
			}
			peer := ctl.DialPeer(ctx, addr, n.cfg.Peers)
			sigs, ferr := peer.SignatureBlobs(ctx, id)
			peer.Close()
			if ferr != nil {
				continue
			}
			for _, s := range sigs {
				// Each is checked; one that is no signature of id is not
				// attached.
				n.local.AttachSignature(ctx, id, s)
			}
			if err = n.local.Allowed(ref, id); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("not serving %s on %s: %w", id.Short(), ref, err)
}
