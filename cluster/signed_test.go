package cluster_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/vfs-project/vfs/cluster/clustertest"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/crypto/ssh"
)

// releaseKey makes a signing key and an allowed signers file that allows
// it.
func releaseKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "allowed_signers")
	os.WriteFile(file, append([]byte(`release@ci namespaces="vfs" `), ssh.MarshalAuthorizedKey(s.PublicKey())...), 0o644)
	return s, file
}

func signOn(t *testing.T, n *Node, s ssh.Signer, id store.Ref) {
	t.Helper()
	armored, err := sign.Sign(id, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Local.AddSignature(context.Background(), id, armored); err != nil {
		t.Fatal(err)
	}
}

// Under a signing policy, a release written straight into etcd (by
// whoever can write there) naming an unsigned snapshot is staged and
// applied by no node, each saying why; a signed release goes out as
// before, its signatures travelling with the pulls.
func TestUnsignedReleaseIsAppliedByNoNode(t *testing.T) {
	t.Parallel()
	signer, allowed := releaseKey(t)
	f := New(t, 3, Options{AllowedSigners: allowed})
	n1, n2, n3 := f.Node("n1"), f.Node("n2"), f.Node("n3")
	v1 := n1.Import(t, site("v1"))
	signOn(t, n1, signer, v1)
	release(t, n1, "current", v1)
	AllServe(t, 10*time.Second, "current", v1, n1, n2, n3)
	if sigs, _ := n2.Local.Store().Signatures(v1); len(sigs) != 1 {
		t.Errorf("n2 holds %d signatures of v1, want the one that travelled with it", len(sigs))
	}

	// An etcd writer names an unsigned snapshot that n1 holds.
	evil := n1.Import(t, site("evil"))
	cli := f.Etcd.Client(t)
	var d map[string]any
	if err := json.Unmarshal([]byte(get(t, cli, "/vfs/web/desired/current")), &d); err != nil {
		t.Fatal(err)
	}
	d["gen"] = d["gen"].(float64) + 1
	d["snapshot"], d["prev"], d["origin"], d["node"], d["reason"] = evil.String(), v1.String(), n1.Peer, "n1", "written straight into etcd"
	b, _ := json.Marshal(d)
	put(t, cli, "/vfs/web/desired/current", string(b))
	for _, n := range []*Node{n1, n2, n3} {
		Eventually(t, 10*time.Second, func() (bool, string) {
			return strings.Contains(n.Log.String(), "refusing to stage"), n.Name + " does not say it refuses:\n" + n.Log.String()
		})
	}
	// Each member says why, in the status any member gives.
	Eventually(t, 10*time.Second, func() (bool, string) {
		st, err := n1.Node.Status(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, name := range []string{"n1", "n2", "n3"} {
			if e := st.Nodes[name].Refs["current"].Error; !strings.Contains(e, "has no signature") {
				return false, fmt.Sprintf("%s's error in n1's status: %q", name, e)
			}
		}
		return true, ""
	})
	time.Sleep(time.Second) // a node that applied it would show by now
	for _, n := range []*Node{n1, n2, n3} {
		if got := n.Serves(t, "current"); got != v1 {
			t.Errorf("%s serves %s, want v1 %s", n.Name, got.Short(), v1.Short())
		}
	}
	if a, err := n1.Activate("current", evil, 2*time.Second, true); err == nil && a.Committed {
		t.Errorf("activate --cluster of an unsigned snapshot went out: %+v", a)
	}

	v2 := n1.Import(t, site("v2"))
	signOn(t, n1, signer, v2)
	release(t, n1, "current", v2)
	AllServe(t, 10*time.Second, "current", v2, n1, n2, n3)

	// A member away for a signed release catches up to it: the apply
	// path pulls the snapshot with its signature.
	n3.Stop()
	v3 := n1.Import(t, site("v3"))
	signOn(t, n1, signer, v3)
	Eventually(t, 20*time.Second, func() (bool, string) {
		a, err := n1.Activate("current", v3, 5*time.Second, false)
		return err == nil && a.Committed, fmt.Sprintf("release of v3 while n3 is away: %+v %v", a, err)
	})
	n3 = f.Start("n3")
	AllServe(t, 20*time.Second, "current", v3, n3)
}
