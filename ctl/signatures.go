package ctl

import (
	"context"
	"slices"
	"time"

	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Signed releases (docs/security.md): signatures attach to snapshots, and
// with a signing policy (vfsd --allowed-signers) every path that makes a
// snapshot served asks it first: activate, rollback, deploy, a cluster's
// stage and apply, and asset carry-over.

// SignatureInfo is one signature of a snapshot as the API shows it.
type SignatureInfo struct {
	// Principal is who the signature stands for under the daemon's
	// allowed signers, now; "" without a policy, or when it does not
	// count (Problem says why).
	Principal string `json:"principal"`
	Key       string `json:"key"`       // the signing key's SHA256 fingerprint
	Signature string `json:"signature"` // armored SSHSIG
	Problem   string `json:"problem,omitempty"`
}

type (
	signRequest struct {
		ID        store.Ref `path:"id" json:"-"`
		Signature string    `json:"signature"`
	}
)

var (
	opSignatures = jsonOp(endpoint{Name: "Signatures", Method: "GET", Path: "/v1/snapshots/{id}/signatures", Timeout: quick, Peer: true,
		Doc: "A snapshot's signatures, each with the principal the daemon's allowed signers give it now (docs/security.md, \"Signed releases\")."},
		func(ctx context.Context, s *session, r idParam) ([]SignatureInfo, error) {
			return s.local.Signatures(ctx, r.ID)
		})
	opSign = jsonOp(endpoint{Name: "Attach a signature", Method: "POST", Path: "/v1/snapshots/{id}/signatures", Timeout: quick,
		Doc: "Attaches an armored SSHSIG of the snapshot's message (namespace vfs) to it, once checked; a snapshot carries at most 32."},
		func(ctx context.Context, s *session, r signRequest) (SignatureInfo, error) {
			info, err := s.local.AddSignature(ctx, r.ID, []byte(r.Signature))
			if err == nil {
				s.log.Info("signature attached", "snapshot", r.ID.Short(), "key", info.Key, "principal", info.Principal, "uid", s.who.UID)
			}
			return info, err
		})
)

// gate is the signing policy as activations ask it (nil: none).
func (l *Local) gate() snapshot.Gate {
	if l.Signing == nil {
		return nil
	}
	return func(ref string, id store.Ref) (string, error) {
		sigs, err := l.st.Signatures(id)
		if err != nil {
			return "", err
		}
		return l.Signing.Check(ref, id, sigs)
	}
}

// Allowed reports whether ref may serve snapshot id under the signing
// policy (nil without one): what a cluster member asks before it stages.
func (l *Local) Allowed(ref string, id store.Ref) error {
	if g := l.gate(); g != nil {
		_, err := g(ref, id)
		return err
	}
	return nil
}

// Carries reports whether ref may still carry assets over from snapshot
// id (the file system asks at each activation): not from one that no
// longer has a valid signature, under a policy.
func (l *Local) Carries(ref string, id store.Ref) bool { return l.Allowed(ref, id) == nil }

// Signatures lists snapshot id's signatures.
func (l *Local) Signatures(ctx context.Context, id store.Ref) ([]SignatureInfo, error) {
	if _, err := l.st.Snapshot(id); err != nil {
		return nil, err
	}
	sigs, err := l.st.Signatures(id)
	if err != nil {
		return nil, err
	}
	out := []SignatureInfo{}
	for _, b := range sigs {
		info := SignatureInfo{Signature: string(b)}
		sig, err := sign.Parse(id, b)
		if err != nil {
			info.Problem = err.Error()
			out = append(out, info)
			continue
		}
		info.Key = sig.Fingerprint()
		l.judge(sig, &info)
		out = append(out, info)
	}
	return out, nil
}

// AddSignature checks armored as a signature of snapshot id and attaches
// it.
func (l *Local) AddSignature(ctx context.Context, id store.Ref, armored []byte) (SignatureInfo, error) {
	if _, err := l.st.Snapshot(id); err != nil {
		return SignatureInfo{}, err
	}
	sig, _, err := sign.Attach(l.st, id, armored)
	if err != nil {
		return SignatureInfo{}, err
	}
	info := SignatureInfo{Key: sig.Fingerprint(), Signature: string(sig.Armored)}
	l.judge(sig, &info)
	return info, nil
}

// judge fills in who a checked signature stands for under the signing
// policy now, or why it does not count (nothing without a policy).
func (l *Local) judge(sig *sign.Signature, info *SignatureInfo) {
	if l.Signing == nil {
		return
	}
	if s, err := l.Signing.Signers().Allowed(sig, time.Now()); err != nil {
		info.Problem = err.Error()
	} else {
		info.Principal = s.Principal()
	}
}

// AttachSignature attaches sig to snapshot id (snapshot.SignatureSink).
func (l *Local) AttachSignature(ctx context.Context, id store.Ref, sig []byte) error {
	_, err := l.AddSignature(ctx, id, sig)
	return err
}

// Signatures lists snapshot id's signatures.
func (c *Client) Signatures(ctx context.Context, id store.Ref) ([]SignatureInfo, error) {
	return opSignatures.call(ctx, c, idParam{id})
}

// AddSignature attaches an armored signature to snapshot id.
func (c *Client) AddSignature(ctx context.Context, id store.Ref, armored []byte) (SignatureInfo, error) {
	return opSign.call(ctx, c, signRequest{ID: id, Signature: string(armored)})
}

// SignatureBlobs lists snapshot id's signatures as bytes, for a pull
// (snapshot.SignatureSource).
func (c *Client) SignatureBlobs(ctx context.Context, id store.Ref) ([][]byte, error) {
	infos, err := c.Signatures(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(infos))
	for _, i := range infos {
		out = append(out, []byte(i.Signature))
	}
	return out, nil
}

// AttachSignature attaches sig to snapshot id (snapshot.SignatureSink).
func (c *Client) AttachSignature(ctx context.Context, id store.Ref, sig []byte) error {
	_, err := c.AddSignature(ctx, id, sig)
	return err
}

// verifySigned adds to rep the refs that serve, among ids (all when
// empty), a snapshot the signing policy no longer allows.
func (l *Local) verifySigned(rep *snapshot.Report, ids []store.Ref) error {
	refs, err := l.st.NamedRefs()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		id := refs[name]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		if err := l.Allowed(name, id); err != nil {
			rep.Unsigned = append(rep.Unsigned, snapshot.UnsignedProblem{Snapshot: id, Ref: name, Error: err.Error()})
		}
	}
	return nil
}
