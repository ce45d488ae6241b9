// Package cluster makes several vfsd nodes, each with its own store and
// mount, switch a ref together, coordinated through etcd.
//
// Words used here:
//   - member: a node in the cluster, known by the key members/<node>, which
//     lives on the lease of the node's etcd session
//     (go.etcd.io/etcd/client/v3/concurrency): a node whose session ends
//     stops being a member, and its reports go with it.
//   - generation: the number of one release of a ref, one more each time,
//     above every generation etcd or any member knows of that ref (a
//     desired, committed or history key, a member's report). A generation
//     is never used twice: an abort writes the next one.
//   - coordinator: the node an activation was asked of. It writes desired,
//     waits, commits. If it leaves before the commit, another member
//     finishes the release or withdraws it (takeOver).
//   - desired: desired/<ref>, the release the coordinator wants: generation,
//     snapshot, the snapshot committed before, the origin's peer address,
//     who asked and why. A withdrawal (abort) is a desired release naming
//     the committed snapshot again (or none).
//   - staged: a member holds every object of the desired snapshot, pulled
//     by hash from a source's peer listener and checked as an import is,
//     and serves its assets ahead (lookahead); it says so in
//     staged/<node>/<ref> with the generation and the snapshot.
//   - source: a peer that holds a snapshot whole: the origin, then any
//     member that staged or applied it.
//   - committed: committed/<ref>, written once every member staged the
//     release, in one transaction guarded by desired's revision and by
//     membership not having changed since.
//   - applied: a member switched the ref to the committed snapshot
//     locally (O(1)) and says so in applied/<node>/<ref>. It also keeps
//     what it applied in its own store: when etcd shows less (restored
//     from a backup), the node keeps serving what it has and says etcd
//     is behind; it never moves back because etcd forgot.
//   - drift: a member serves, under a ref the cluster manages, something
//     other than what the cluster committed (a --local activation): it is
//     not ready until the next release.
//   - evicted: evicted/<node> (no lease) keeps a node out until admitted.
//
// The key layout and every value are in keys.go (the schema, with its
// version); nothing read from etcd is trusted. Each node reconciles from
// etcd: a watch from the revision of the read before it wakes it, and a
// periodic read catches what a watch missed (etcd does not bound watch
// delivery); each ref is staged and applied by a worker of its own.
// Readiness never waits on a hook: node hooks run after the node
// reported, cluster hooks once per release on the coordinator. Only
// features of etcd 3.4 are used (Debian's etcd-server).
//
// Files: node.go (joining, the session, contact with etcd), reconcile.go
// (the loop, staging, applying), orphan.go (taking over an orphaned
// release),
// pull.go, coordinator.go (Activate), ready.go (readiness, drift,
// fencing), admin.go (evict, admit, status), history.go.
package cluster
