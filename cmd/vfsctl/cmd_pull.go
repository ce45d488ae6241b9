package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

func pullCommand(e *env) *command {
	var cert, key, ca string
	return &command{
		name: "snapshot pull", args: "PEER ID", nargs: [2]int{2, 2},
		summary: "copy a snapshot from another vfsd's peer listener, by hash",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&cert, "peer-tls-cert", "", "with --peer-tls-key and --peer-tls-ca: reach a peer listener that asks for mutual TLS, as a member (docs/cluster.md)")
			fs.StringVar(&key, "peer-tls-key", "", "the key of --peer-tls-cert")
			fs.StringVar(&ca, "peer-tls-ca", "", "the cluster's CA, which signed the peer's certificate")
		},
		run: func(e *env, args []string) error {
			var opts ctl.PeerOptions
			if cert != "" || key != "" || ca != "" {
				if cert == "" || key == "" || ca == "" {
					return usageError{"snapshot pull: --peer-tls-cert, --peer-tls-key and --peer-tls-ca go together"}
				}
				var err error
				if _, opts.TLS, err = ctl.PeerTLS(cert, key, ca); err != nil {
					return err
				}
			}
			id, err := store.ParseRef(args[1])
			if err != nil {
				return usageError{fmt.Sprintf("snapshot pull: %s: a full snapshot id (64 hex digits) is needed: a peer lists nothing", args[1])}
			}
			e.create = true // a new node's first pull makes its store
			api, err := e.store()
			if err != nil {
				return err
			}
			var dst snapshot.Target = api
			if l, ok := api.(*ctl.Local); ok {
				// Content from another node is checked like an import
				// through vfsd: file records against their chunks.
				dst = pullTarget{store.Verifying(l.Store()), l}
			}
			src := ctl.DialPeer(e.ctx, args[0], opts)
			defer src.Close()
			var show func(snapshot.PullStats)
			if !e.quiet {
				p := newProgress(e.stderr)
				defer p.done()
				show = func(s snapshot.PullStats) {
					p.line(fmt.Sprintf("pull: %s, %s, %s fetched (%s)", count(s.Trees, "tree"), count(s.Files, "file"), count(s.Chunks, "chunk"), size(s.BytesFetched)))
				}
			}
			info, st, err := snapshot.Pull(e.ctx, src, dst, id, show)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"snapshot": info, "stats": st})
			}
			e.note("pulled %s from %s: %s, %s (and %s), %s fetched (%s), %s already here, %s, in %s", id.Short(), args[0],
				count(st.Trees, "tree"), count(st.Files, "file"), count(st.Variants, "variant"), count(st.Chunks, "chunk"), size(st.BytesFetched),
				count(st.ChunksHad, "chunk"), count(st.Signatures, "signature"), st.Elapsed.Round(1e6))
			if st.SignaturesRefused > 0 {
				e.note("refused %s the peer sent (not signatures of %s)", count(st.SignaturesRefused, "signature"), id.Short())
			}
			_, err = fmt.Fprintln(e.stdout, info.ID)
			return err
		},
	}
}

// pullTarget is a store opened by vfsctl itself as a pull's target, which
// also takes the snapshot's signatures (each checked).
type pullTarget struct {
	snapshot.Target
	l *ctl.Local
}

func (t pullTarget) AttachSignature(ctx context.Context, id store.Ref, sig []byte) error {
	return t.l.AttachSignature(ctx, id, sig)
}
