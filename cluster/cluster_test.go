package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vfs-project/vfs/cluster"
	. "github.com/vfs-project/vfs/cluster/clustertest"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// site is a small site whose page names its release.
func site(release string) map[string]string {
	return map[string]string{"index.html": "<h1>" + release + "</h1>", "assets/app-" + release + ".js": "app(" + release + ")"}
}

func release(t *testing.T, n *Node, ref string, id store.Ref) ctl.ClusterActivation {
	t.Helper()
	a, err := n.Activate(ref, id, 30*time.Second, false)
	if err != nil {
		t.Fatalf("release %s on %s: %v", id.Short(), ref, err)
	}
	if len(a.Missing) > 0 || !a.Committed {
		t.Fatalf("release %s on %s: %+v", id.Short(), ref, a)
	}
	return a
}

// ghost adds a member that never stages: its key on a lease of the
// test's, revoked by the function returned.
func ghost(t *testing.T, f *Fleet) func() {
	t.Helper()
	cli := f.Etcd.Client(t)
	lease, err := cli.Grant(context.Background(), 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), "/vfs/web/members/ghost", `{"peer":"127.0.0.1:1"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	return func() { cli.Revoke(context.Background(), lease.ID) }
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	r, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) == 0 {
		return ""
	}
	return string(r.Kvs[0].Value)
}

func put(t *testing.T, cli *clientv3.Client, key, value string) {
	t.Helper()
	if _, err := cli.Put(context.Background(), key, value); err != nil {
		t.Fatal(err)
	}
}

// A slow node hook (a CDN purge) never makes a node unready: nodes report
// applied before their hooks run, and no sample finds every node out of
// the load balancer. The cluster hook runs once per release.
func TestHooksAreOffTheReadinessPath(t *testing.T) {
	t.Parallel()
	f := New(t, 3, Options{Hooks: []string{"sleep 3"}, ReleaseHooks: []string{"true"}})
	n1, n2, n3 := f.Node("n1"), f.Node("n2"), f.Node("n3")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	AllServe(t, 20*time.Second, "current", v1, n1, n2, n3)
	v2 := n1.Import(t, site("v2"))
	var allOut, samples atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			out := 0
			for _, n := range []*Node{n1, n2, n3} {
				if ok, _ := n.Ready(); !ok {
					out++
				}
			}
			samples.Add(1)
			if out == 3 {
				allOut.Add(1)
			}
		}
	}()
	a := release(t, n1, "current", v2)
	// Until every hook finished, and a little after.
	Eventually(t, 30*time.Second, func() (bool, string) {
		for _, n := range []*Node{n1, n2, n3} {
			if h := n.Hooks(); len(h) < 2 {
				return false, fmt.Sprintf("%s ran hooks for %v", n.Name, h)
			}
		}
		return true, ""
	})
	close(done)
	wg.Wait()
	if allOut.Load() > 0 {
		t.Errorf("%d of %d samples found every node unready", allOut.Load(), samples.Load())
	}
	for _, n := range []*Node{n1, n2, n3} {
		if h := n.Hooks(); !slices.Equal(h, []string{v1.String(), v2.String()}) {
			t.Errorf("%s's hooks ran for %v, want once per release", n.Name, h)
		}
	}
	if len(a.HookFailures) != 0 {
		t.Errorf("cluster hook failures: %v", a.HookFailures)
	}
	if got := strings.Count(n1.Log.String(), "hook=true ref=current"); got != 2 {
		t.Errorf("the cluster hook ran %d times on the coordinator, want once per release (2):\n%s", got, n1.Log)
	}
	for _, n := range []*Node{n2, n3} {
		if strings.Contains(n.Log.String(), "hook=true") {
			t.Errorf("%s ran the cluster hook", n.Name)
		}
	}
}

// An abort of a ref's first release never gives its generation to the
// next release: the withdrawal takes the next generation, and the release
// after it another, so a member that staged the withdrawn snapshot is not
// counted as staging the new one.
func TestAbortNeverReusesAGeneration(t *testing.T) {
	t.Parallel()
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	gone := ghost(t, f)
	v1 := n1.Import(t, site("v1"))
	a, err := n1.Activate("current", v1, 2*time.Second, true)
	if err != nil || a.Committed || !slices.Equal(a.Missing, []string{"ghost"}) || a.Gen != 1 {
		t.Fatalf("held by a ghost, aborted: %+v %v", a, err)
	}
	cli := f.Etcd.Client(t)
	if d := get(t, cli, "/vfs/web/desired/current"); !strings.Contains(d, `"gen":2`) || !strings.Contains(d, `"withdrawn":true`) {
		t.Errorf("after the abort desired is %s, want generation 2, withdrawn", d)
	}
	gone()
	v2 := n1.Import(t, site("v2"))
	a = release(t, n1, "current", v2)
	if a.Gen != 3 {
		t.Errorf("the release after the abort is generation %d, want 3", a.Gen)
	}
	AllServe(t, 20*time.Second, "current", v2, n1, n2)
	h, err := n2.Node.History(context.Background(), "current")
	if err != nil || len(h.Entries) != 1 || h.Entries[0].Gen != 3 || h.Problem != "" {
		t.Errorf("history: %+v %v", h, err)
	}
}

// A ref whose release no member can stage holds no other ref: each ref is
// staged and applied on its own.
func TestOneRefDoesNotHoldAnother(t *testing.T) {
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	cli := f.Etcd.Client(t)
	// "aaa" sorts first; nobody holds its snapshot and its origin does
	// not answer.
	bogus := strings.Repeat("ab", 32)
	put(t, cli, "/vfs/web/desired/aaa", `{"gen":1,"snapshot":"`+bogus+`","origin":"127.0.0.1:1","node":"n9","reason":""}`)
	v1 := n1.Import(t, site("v1"))
	a, err := n1.Activate("current", v1, 20*time.Second, false)
	if err != nil || !a.Committed || len(a.Missing) > 0 {
		t.Fatalf("current held by aaa: %+v %v", a, err)
	}
	AllServe(t, 20*time.Second, "current", v1, n1, n2)
	s, err := n2.Node.Status(context.Background())
	if err != nil || !strings.Contains(s.Error, "aaa: stage generation 1") {
		t.Errorf("status names aaa's failure: %q %v", s.Error, err)
	}
}

// A ref the cluster manages does not move on one node without --cluster;
// with --local it does, and the node is not ready (drift) until the next
// release. A rollback too.
func TestLocalMoveIsRefusedOrDrifts(t *testing.T) {
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	v2 := n1.Import(t, site("v2"))
	release(t, n1, "current", v2)
	AllServe(t, 20*time.Second, "current", v2, n1, n2)
	c := n2.Client(t)
	if _, err := c.Rollback(context.Background(), "current", "oops"); !errors.Is(err, ctl.ErrManaged) || !strings.Contains(err.Error(), "--cluster") {
		t.Errorf("a rollback on one member: %v", err)
	}
	if _, err := c.Activate(context.Background(), "current", v1, "oops", false); !errors.Is(err, ctl.ErrManaged) {
		t.Errorf("an activation on one member: %v", err)
	}
	if got := n2.Serves(t, "current"); got != v2 {
		t.Fatalf("refused, and yet n2 serves %s", got.Short())
	}
	// A ref the cluster does not manage moves as before.
	if _, err := c.Activate(context.Background(), "preview", v1, "", false); err != nil {
		t.Errorf("an unmanaged ref: %v", err)
	}
	c.Local = true
	if _, err := c.Rollback(context.Background(), "current", "deliberate"); err != nil {
		t.Fatalf("--local: %v", err)
	}
	Eventually(t, 5*time.Second, func() (bool, string) {
		ok, why := n2.Ready()
		return !ok && strings.Contains(why, "drift"), fmt.Sprintf("after --local: ready %v %q", ok, why)
	})
	s, err := n1.Node.Status(context.Background())
	if err != nil || !s.Nodes["n2"].Refs["current"].Drift || s.Nodes["n2"].Ready || s.Nodes["n1"].Refs["current"].Drift {
		t.Errorf("status does not show n2's drift: %+v %v", s.Nodes, err)
	}
	v3 := n1.Import(t, site("v3"))
	release(t, n1, "current", v3)
	AllServe(t, 20*time.Second, "current", v3, n1, n2)
}

// Closing a node stops and waits for everything it runs: a pull or an
// apply never reaches a closed store (it would panic in Badger). Here n2's
// switch is slow to finish once told to stop, as a commit under way is;
// Close must not return before it has.
func TestCloseWaitsForItsWork(t *testing.T) {
	t.Parallel()
	inSwitch := make(chan struct{}, 1)
	var finished atomic.Bool
	f := New(t, 2, Options{Wrap: func(name string, l cluster.Local) cluster.Local {
		if name != "n2" {
			return l
		}
		return slowSwitch{Local: l, in: inSwitch, finished: &finished}
	}})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	go n1.Activate("current", v1, 5*time.Second, false)
	select {
	case <-inSwitch:
	case <-time.After(20 * time.Second):
		t.Fatal("n2 never switched")
	}
	n2.Stop()
	if !finished.Load() {
		t.Error("Close returned while the node was still switching a ref")
	}
}

// slowSwitch's Switch waits for its context to end, then takes a while
// more before it returns, as a commit under way does.
type slowSwitch struct {
	cluster.Local
	in       chan struct{}
	finished *atomic.Bool
}

func (s slowSwitch) Switch(ctx context.Context, ref string, id store.Ref, who snapshot.Who, reason string) (store.LogEntry, bool, error) {
	s.in <- struct{}{}
	<-ctx.Done()
	time.Sleep(300 * time.Millisecond)
	s.finished.Store(true)
	return store.LogEntry{}, false, ctx.Err()
}

// A node's reports live on its session's lease: when the lease goes (here
// revoked, as an expiry would), the node joins again and writes them
// again under the new lease, never without one.
func TestReportsFollowTheSession(t *testing.T) {
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	cli := f.Etcd.Client(t)
	m, err := cli.Get(context.Background(), "/vfs/web/members/n2")
	if err != nil || len(m.Kvs) != 1 {
		t.Fatal(m, err)
	}
	old := m.Kvs[0].Lease
	if _, err := cli.Revoke(context.Background(), clientv3.LeaseID(old)); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, func() (bool, string) {
		m, err := cli.Get(context.Background(), "/vfs/web/members/n2")
		if err != nil || len(m.Kvs) != 1 || m.Kvs[0].Lease == old {
			return false, "n2 has not joined again"
		}
		lease := m.Kvs[0].Lease
		for _, s := range []string{"staged", "applied"} {
			r, err := cli.Get(context.Background(), "/vfs/web/"+s+"/n2/current")
			if err != nil || len(r.Kvs) != 1 {
				return false, "no " + s + " report of n2"
			}
			if r.Kvs[0].Lease != lease {
				return false, fmt.Sprintf("%s report of n2 on lease %x, its session's is %x", s, r.Kvs[0].Lease, lease)
			}
		}
		return true, ""
	})
	AllServe(t, 20*time.Second, "current", v1, n1, n2)
	n2.Stop()
	r, _ := cli.Get(context.Background(), "/vfs/web/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	for _, kv := range r.Kvs {
		if strings.Contains(string(kv.Key), "/n2") {
			t.Errorf("%s outlived n2", kv.Key)
		}
	}
}

// Values written straight into etcd are checked: each bad one is reported
// for its own ref, the other refs and the nodes go on, and none resets a
// generation or wraps.
func TestBadValuesInEtcd(t *testing.T) {
	const max = "18446744073709551615"
	cases := []struct {
		name, key, value string
		// committedErr: the release of current fails, naming this.
		committedErr string
	}{
		{name: "garbage desired of another ref", key: "desired/zzz", value: "}{"},
		{name: "negative generation", key: "desired/zzz", value: `{"gen":-1,"snapshot":"` + strings.Repeat("0", 63) + `1","origin":"127.0.0.1:1","node":"x"}`},
		{name: "huge desired generation of current", key: "desired/current", value: `{"gen":` + max + `,"snapshot":"` + strings.Repeat("0", 63) + `1","origin":"127.0.0.1:1","node":"x"}`},
		{name: "garbage desired of current", key: "desired/current", value: "garbage"},
		{name: "deleted desired of current", key: "desired/current", value: ""},
		{name: "huge committed generation", key: "committed/current", value: `{"gen":` + max + `,"snapshot":"` + strings.Repeat("0", 63) + `1","node":"x"}`, committedErr: "committed/current"},
		{name: "a member's bad address", key: "members/zz", value: `{"peer":"\u001b[31m"}`},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			f := New(t, 2, Options{})
			n1, n2 := f.Node("n1"), f.Node("n2")
			v1 := n1.Import(t, site("v1"))
			release(t, n1, "current", v1)
			other := n1.Import(t, site("other"))
			release(t, n1, "other", other)
			cli := f.Etcd.Client(t)
			if tc.value == "" {
				if _, err := cli.Delete(context.Background(), "/vfs/web/"+tc.key); err != nil {
					t.Fatal(err)
				}
			} else {
				put(t, cli, "/vfs/web/"+tc.key, tc.value)
			}
			// Every node keeps serving, and stays ready.
			time.Sleep(2500 * time.Millisecond) // a reconcile's period and more
			AllServe(t, 10*time.Second, "current", v1, n1, n2)
			AllServe(t, 10*time.Second, "other", other, n1, n2)
			// Another ref moves as before.
			other2 := n1.Import(t, site("other2"))
			release(t, n1, "other", other2)
			// The next release of current goes above every generation
			// seen, or fails saying which value is wrong.
			v2 := n1.Import(t, site("v2"))
			a, err := n1.Activate("current", v2, 20*time.Second, false)
			if tc.committedErr != "" {
				if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), tc.committedErr) {
					t.Fatalf("release over a bad %s: %+v %v", tc.committedErr, a, err)
				}
				s, _ := n2.Node.Status(context.Background())
				if !strings.Contains(s.Refs["current"].Problem, "out of range") {
					t.Errorf("status of current: %+v", s.Refs["current"])
				}
				return
			}
			if err != nil || !a.Committed || len(a.Missing) > 0 || a.Gen < 2 || a.Gen > cluster.MaxGen {
				t.Fatalf("release after %s: %+v %v", tc.name, a, err)
			}
			AllServe(t, 20*time.Second, "current", v2, n1, n2)
		})
	}
}

// etcd restored from a backup taken one release earlier: a member that
// joins again keeps serving what it applied, stays ready, and says etcd
// is behind; the next release goes above what any member applied.
func TestEtcdRestoredFromAnOlderBackup(t *testing.T) {
	t.Parallel()
	f := New(t, 2, Options{TTL: 3})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	AllServe(t, 20*time.Second, "current", v1, n1, n2)
	backup := f.Etcd.Backup(t)
	v2 := n1.Import(t, site("v2"))
	release(t, n1, "current", v2)
	AllServe(t, 20*time.Second, "current", v2, n1, n2)
	f.Etcd.Restore(t, backup)
	n1.Stop()
	n1 = f.Start("n1")
	Eventually(t, 30*time.Second, func() (bool, string) {
		s, err := n1.Node.Status(context.Background())
		return err == nil && strings.Contains(s.Refs["current"].Behind, "etcd is behind this node"), fmt.Sprintf("n1's status: %+v %v", s.Refs, err)
	})
	AllServe(t, 20*time.Second, "current", v2, n1, n2)
	v3 := n2.Import(t, site("v3"))
	a := release(t, n2, "current", v3)
	if a.Gen <= 2 {
		t.Errorf("the release after the restore is generation %d: not above what the members applied (2)", a.Gen)
	}
	AllServe(t, 20*time.Second, "current", v3, n1, n2)
}

// A release whose coordinator left between stage and commit is finished
// by another member once every member staged it, or withdrawn when they
// do not within a lease.
func TestOrphanedReleaseIsFinished(t *testing.T) {
	for _, staged := range []bool{true, false} {
		t.Run(fmt.Sprintf("staged=%v", staged), func(t *testing.T) {
			t.Parallel()
			// The cluster hook of a release another member finished runs
			// there, once.
			hooked := filepath.Join(t.TempDir(), "hooked")
			f := New(t, 3, Options{ReleaseHooks: []string{`echo "$VFS_TO" >> ` + hooked}})
			n1, n2, n3 := f.Node("n1"), f.Node("n2"), f.Node("n3")
			v1 := n1.Import(t, site("v1"))
			release(t, n1, "current", v1)
			gone := ghost(t, f)
			v2 := n1.Import(t, site("v2"))
			go n1.Activate("current", v2, time.Minute, false)
			cli := f.Etcd.Client(t)
			Eventually(t, 10*time.Second, func() (bool, string) {
				d := get(t, cli, "/vfs/web/desired/current")
				return strings.Contains(d, v2.String()), "desired: " + d
			})
			Eventually(t, 10*time.Second, func() (bool, string) {
				r, _ := cli.Get(context.Background(), "/vfs/web/staged/n3/current")
				return len(r.Kvs) == 1 && strings.Contains(string(r.Kvs[0].Value), v2.String()), "n3 did not stage"
			})
			n1.Stop() // the coordinator goes
			left := time.Now()
			if staged {
				gone()
				AllServe(t, 20*time.Second, "current", v2, n2, n3)
				t.Logf("committed by another member and applied %s after the coordinator left (lease 2 s)", time.Since(left).Round(time.Millisecond))
				if !strings.Contains(n2.Log.String()+n3.Log.String(), "committed a release whose coordinator left") {
					t.Error("no member says it finished the release")
				}
				Eventually(t, 20*time.Second, func() (bool, string) {
					b, _ := os.ReadFile(hooked)
					return strings.Contains(string(b), v2.String()), "the cluster hook ran for: " + string(b)
				})
				time.Sleep(500 * time.Millisecond) // a second run would show by now
				if b, _ := os.ReadFile(hooked); strings.Count(string(b), v2.String()) != 1 {
					t.Errorf("the cluster hook ran for %q, want v2 once", b)
				}
				return
			}
			Eventually(t, 20*time.Second, func() (bool, string) {
				d := get(t, cli, "/vfs/web/desired/current")
				return strings.Contains(d, `"withdrawn":true`) && strings.Contains(d, v1.String()), "desired: " + d
			})
			t.Logf("withdrawn by another member %s after the coordinator left (lease 2 s)", time.Since(left).Round(time.Millisecond))
			gone()
			AllServe(t, 20*time.Second, "current", v1, n2, n3)
		})
	}
}

// Who asked and why travel with the release into every member's
// activation log; labels travel with the snapshot.
func TestWhoWhyAndLabelsTravel(t *testing.T) {
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v42 := n1.Import(t, site("v42"), "v42")
	release(t, n1, "current", v42)
	AllServe(t, 20*time.Second, "current", v42, n1, n2)
	log, err := n2.Local.Log()
	if err != nil || len(log) == 0 {
		t.Fatal(log, err)
	}
	e := log[len(log)-1]
	if e.UID != 1000 || e.User != "deployer" || !strings.HasPrefix(e.Reason, "test release (cluster web generation 1 from n1") {
		t.Errorf("n2's log: %+v", e)
	}
	if id, err := n2.Local.Label("v42"); err != nil || id != v42 {
		t.Errorf("label v42 on n2: %s %v", id.Short(), err)
	}
	// And so a release by label works from n2.
	v43 := n1.Import(t, site("v43"))
	release(t, n1, "current", v43)
	id, _ := n2.Local.Label("v42")
	release(t, n2, "current", id)
	AllServe(t, 20*time.Second, "current", v42, n1, n2)
}

// A release names the members that served the one before and left since:
// they may still serve it.
func TestReleaseNamesMembersThatLeft(t *testing.T) {
	f := New(t, 3, Options{})
	n1 := f.Node("n1")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	f.Node("n3").Stop()
	v2 := n1.Import(t, site("v2"))
	a := release(t, n1, "current", v2)
	if !slices.Equal(a.Left, []string{"n3"}) || !slices.Equal(a.Members, []string{"n1", "n2"}) {
		t.Errorf("members %v, left %v; want n3 named as left", a.Members, a.Left)
	}
	v3 := n1.Import(t, site("v3"))
	if a := release(t, n1, "current", v3); len(a.Left) != 0 {
		t.Errorf("the release after: left %v", a.Left)
	}
}

// With etcd down, status answers within seconds, naming etcd and giving
// the last state read; an activation fails with etcd's own kind; once
// etcd is back the nodes rejoin and a release goes out.
func TestEtcdDown(t *testing.T) {
	t.Parallel()
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	if _, err := n1.Node.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.Etcd.Stop()
	start := time.Now()
	s, err := n1.Node.Status(context.Background())
	t.Logf("status with etcd stopped answered in %s", time.Since(start).Round(time.Millisecond))
	if err != nil || !strings.HasPrefix(s.Etcd, "unreachable since") || s.Committed["current"] != 1 || s.Nodes["n2"].Refs["current"].Serves != v1 {
		t.Errorf("status with etcd down: %+v %v", s, err)
	}
	v2 := n1.Import(t, site("v2"))
	if _, err := n1.Activate("current", v2, 3*time.Second, false); !errors.Is(err, ctl.ErrEtcd) || errors.Is(err, ctl.ErrUnavailable) {
		t.Errorf("an activation with etcd down: %v (want kind etcd)", err)
	} else if k := ctl.KindOf(err); k.Name != "etcd" {
		t.Errorf("kind %s", k.Name)
	}
	down := time.Now()
	f.Etcd.Start(t)
	AllServe(t, 30*time.Second, "current", v1, n1, n2)
	t.Logf("etcd back: both nodes members and ready %s after etcd started (lease 2 s)", time.Since(down).Round(time.Millisecond))
	release(t, n1, "current", v2)
	AllServe(t, 20*time.Second, "current", v2, n1, n2)
}

// A schema this vfsd does not read is refused at join, saying so.
func TestOtherSchemaIsRefused(t *testing.T) {
	f := New(t, 1, Options{})
	put(t, f.Etcd.Client(t), "/vfs/web/schema", "2")
	if _, err := f.TryStart("n2"); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("join of schema 2: %v", err)
	}
}

// docs/cluster.md's key table is cluster.Schema's. VFS_UPDATE_DOCS=1
// rewrites it.
func TestKeyTableIsCurrent(t *testing.T) {
	var b strings.Builder
	b.WriteString("| key | written by | value |\n| --- | --- | --- |\n")
	for _, k := range cluster.Schema {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Pattern, k.WrittenBy, k.Value)
	}
	ctltest.CheckGenerated(t, "../docs/cluster.md", "<!-- generated from cluster.Schema: do not edit -->\n",
		"<!-- end of generated key table -->\n", strings.TrimSuffix(b.String(), "\n"))
}

// Two activations of a ref at once: exactly one goes out; the other ends
// with a conflict as soon as it is superseded, not when its wait ends.
func TestRacingActivations(t *testing.T) {
	f := New(t, 2, Options{})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	a, b := n1.Import(t, site("a")), n1.Import(t, site("b"))
	for range 3 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		res := make([]ctl.ClusterActivation, 2)
		for i, id := range []store.Ref{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = n1.Activate("current", id, 20*time.Second, false)
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil && (!res[i].Committed || len(res[i].Missing) > 0):
				t.Fatalf("an activation neither went out nor was told it lost: %+v", res[i])
			case err == nil:
				won++
			case !errors.Is(err, ctl.ErrConflict):
				t.Fatalf("the loser: %v", err)
			}
		}
		if won == 0 {
			t.Fatalf("nobody won: %v", errs)
		}
		// Both may win one after the other; the last one serves.
		want := n1.Serves(t, "current")
		AllServe(t, 20*time.Second, "current", want, n1, n2)
		a, b = b, a
	}
}

// A failing hook changes nothing of the release: a node hook's failure is
// logged on its node, a cluster hook's is reported to the operator; every
// node serves the release and is ready.
func TestFailingHooks(t *testing.T) {
	f := New(t, 2, Options{Hooks: []string{"exit 3"}, ReleaseHooks: []string{"echo purge failed >&2; exit 4"}})
	n1, n2 := f.Node("n1"), f.Node("n2")
	v1 := n1.Import(t, site("v1"))
	a := release(t, n1, "current", v1)
	if len(a.HookFailures) != 1 || !strings.Contains(a.HookFailures[0], "purge failed") {
		t.Errorf("cluster hook failures: %v", a.HookFailures)
	}
	AllServe(t, 20*time.Second, "current", v1, n1, n2)
	Eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(n2.Log.String(), "activation hook failed"), "n2 does not log its hook's failure"
	})
}

// A node that joins late is never ready while it serves anything but the
// committed release: from its first answer on.
func TestLateJoinerIsNeverReadyEarly(t *testing.T) {
	f := New(t, 1, Options{})
	n1 := f.Node("n1")
	v1 := n1.Import(t, site("v1"))
	release(t, n1, "current", v1)
	for i := range 3 {
		n := f.Start(fmt.Sprintf("late%d", i))
		for {
			ok, why := n.Ready()
			if got := n.Serves(t, "current"); ok && got != v1 {
				t.Fatalf("%s ready while it serves %s (%s)", n.Name, got, why)
			}
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// A node that applies a release it never staged (it joined while a
// withdrawal was desired) gets the release's labels all the same.
func TestLabelsReachANodeThatOnlyApplies(t *testing.T) {
	f := New(t, 1, Options{})
	n1 := f.Node("n1")
	v42 := n1.Import(t, site("v42"), "v42")
	release(t, n1, "current", v42)
	gone := ghost(t, f)
	v43 := n1.Import(t, site("v43"))
	if a, err := n1.Activate("current", v43, time.Second, true); err != nil || a.Committed {
		t.Fatalf("the aborted release: %+v %v", a, err)
	}
	gone()
	late := f.Start("late")
	AllServe(t, 20*time.Second, "current", v42, n1, late)
	if id, err := late.Local.Label("v42"); err != nil || id != v42 {
		t.Errorf("label v42 on the late node: %s %v", id.Short(), err)
	}
}
