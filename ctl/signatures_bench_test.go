package ctl_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/crypto/ssh"
)

// BenchmarkActivationPolicy measures what a signing policy adds to an
// activation (make bench): two signed snapshots are activated in turn,
// through one Local without a policy and one with --allowed-signers, in
// the same loop so that both meet the same machine. It reports each
// mean and their difference (the goal: within 1 ms).
func BenchmarkActivationPolicy(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	allowed := filepath.Join(b.TempDir(), "allowed_signers")
	os.WriteFile(allowed, append([]byte(`release@ci namespaces="vfs" `), ssh.MarshalAuthorizedKey(signer.PublicKey())...), 0o644)
	policy, err := sign.NewPolicy(allowed, nil)
	if err != nil {
		b.Fatal(err)
	}
	plain := ctl.NewLocal(st, snapshot.Who{})
	signed := ctl.NewLocal(st, snapshot.Who{})
	signed.Signing = policy
	var ids []store.Ref
	for i := range 2 {
		dir := b.TempDir()
		for f := range 50 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.html", f)), []byte(fmt.Sprintf("<p>%d %d</p>", i, f)), 0o644)
		}
		res, err := snapshot.ImportDir(context.Background(), plain, dir, snapshot.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		armored, _ := sign.Sign(res.Snapshot.ID, signer)
		if _, err := plain.AddSignature(context.Background(), res.Snapshot.ID, armored); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.Snapshot.ID)
	}
	var without, with time.Duration
	b.ResetTimer()
	for i := range b.N {
		for j, l := range []*ctl.Local{plain, signed} {
			ref := []string{"plain", "signed"}[j]
			start := time.Now()
			if _, err := l.Activate(context.Background(), ref, ids[i%2], "bench", false); err != nil {
				b.Fatal(err)
			}
			if j == 0 {
				without += time.Since(start)
			} else {
				with += time.Since(start)
			}
		}
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((without / n).Microseconds()), "µs/activation-no-policy")
	b.ReportMetric(float64((with / n).Microseconds()), "µs/activation-policy")
	b.ReportMetric(float64((with-without)/n)/1e3, "µs-policy-adds")
}
