package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vfs-project/vfs/store"
)

// The etcd schema: every key this package reads or writes is built and
// parsed here, and every value is decoded and checked here (decodeValue),
// as store/keys.go is for Badger. Nothing read from etcd is trusted: a
// value that does not decode, or breaks a rule (a generation out of
// range, a name that cannot be a key segment, an address that is not
// host:port), is an error naming its key, reported for the ref or member
// it concerns alone; it never reads as zero.

// SchemaVersion is the version of the key layout and value encodings
// below. Join writes it at <prefix>schema when absent and refuses to join
// a cluster whose schema is another: a node never reads values it does
// not understand as if they were its own.
const SchemaVersion = 1

// MaxGen bounds a generation. 2^53 is beyond any fleet's releases and
// exact in every JSON reader; a value above it is refused, and an
// activation that would need one fails, never wraps.
const MaxGen = 1 << 53

// maxValue bounds the size of a value read from etcd before it is
// decoded (a history entry or a release is well under 4 KiB).
const maxValue = 64 << 10

// maxMembers bounds the member list a commit carries.
const maxMembers = 4096

// ErrBadValue: a value in etcd cannot be read (it does not decode or
// breaks a rule). It is corruption as far as callers go: someone wrote
// etcd by hand, a bug, or a restore from another schema.
var ErrBadValue = fmt.Errorf("unreadable value in etcd (schema %d): %w", SchemaVersion, store.ErrCorrupt)

// keys builds and parses the keys of one cluster, all under
// /vfs/<cluster>/.
type keys struct{ prefix string }

func newKeys(cluster string) keys { return keys{prefix: "/vfs/" + cluster + "/"} }

// state is a member's report on a ref: staged or applied.
type state string

const (
	stateStaged  state = "staged"
	stateApplied state = "applied"
)

// KeyDoc describes one key of the schema, for docs/cluster.md.
type KeyDoc struct {
	Pattern, WrittenBy, Value string
}

// Schema is the key table of docs/cluster.md, which a test keeps equal to
// it. Its order is the table's.
var Schema = []KeyDoc{
	{"schema", "the first node to join, if absent", "the schema version (" + strconv.Itoa(SchemaVersion) + "); a node that finds another refuses to join"},
	{"members/<node>", "each node, on its session lease (`--cluster-lease`, 10 s)", "its peer address"},
	{"desired/<ref>", "the coordinator, guarded by the revision it read", "generation, snapshot (none when an abort withdrew the first release), the snapshot committed before (`prev`), origin's peer address, node, operator's uid and user, reason, the snapshot's labels, whether it is a withdrawal"},
	{"staged/<node>/<ref>", "each node, on its lease", "the generation and snapshot it holds whole"},
	{"committed/<ref>", "the coordinator, in one guarded transaction", "generation, snapshot, `prev`, node, uid, user, reason, the members that staged it, the snapshot's labels"},
	{"applied/<node>/<ref>", "each node, on its lease", "the generation and snapshot it serves, and when it flipped (its clock)"},
	{"history/<ref>/<gen>", "the coordinator, in the commit's transaction, only if absent", "generation, snapshot, the one before, node, uid, user, reason, time, the previous entry's hash, its own hash (SHA-256)"},
	{"evicted/<node>", "`vfsctl cluster evict`, no lease", "who evicted the node, when, why; the node may not join while it exists"},
}

func (k keys) schema() string              { return k.prefix + "schema" }
func (k keys) member(node string) string   { return k.prefix + "members/" + node }
func (k keys) members() string             { return k.prefix + "members/" }
func (k keys) desired(ref string) string   { return k.prefix + "desired/" + ref }
func (k keys) desiredAll() string          { return k.prefix + "desired/" }
func (k keys) committed(ref string) string { return k.prefix + "committed/" + ref }
func (k keys) committedAll() string        { return k.prefix + "committed/" }
func (k keys) evicted(node string) string  { return k.prefix + "evicted/" + node }
func (k keys) evictedAll() string          { return k.prefix + "evicted/" }

// releases is the range [committed/, desired0): committed/ and desired/
// and nothing else (they are adjacent in key order), what a node watches.
func (k keys) releases() (from, end string) { return k.prefix + "committed/", k.prefix + "desired0" }

// report is node's staged or applied key for ref.
func (k keys) report(s state, node, ref string) string {
	return k.prefix + string(s) + "/" + node + "/" + ref
}

// reportsOf is the prefix of node's reports of one state.
func (k keys) reportsOf(s state, node string) string { return k.prefix + string(s) + "/" + node + "/" }

// reports is the prefix of every node's reports of one state.
func (k keys) reports(s state) string { return k.prefix + string(s) + "/" }

// history is ref's entry for gen; keys sort by generation (20 digits).
func (k keys) history(ref string, gen uint64) string {
	return fmt.Sprintf("%shistory/%s/%020d", k.prefix, ref, gen)
}

func (k keys) historyOf(ref string) string { return k.prefix + "history/" + ref + "/" }

// one returns the last segment of key under prefix p, checked as a name.
func (k keys) one(p string, key []byte, check func(string) error) (string, error) {
	s, ok := strings.CutPrefix(string(key), p)
	if !ok {
		return "", fmt.Errorf("key %q is not under %s: %w", key, p, ErrBadValue)
	}
	if err := check(s); err != nil {
		return "", fmt.Errorf("key %q: %v: %w", key, err, ErrBadValue)
	}
	return s, nil
}

// refOf parses desired/<ref> or committed/<ref> under p.
func (k keys) refOf(p string, key []byte) (string, error) { return k.one(p, key, store.CheckLabel) }

// nodeOf parses members/<node> or evicted/<node> under p.
func (k keys) nodeOf(p string, key []byte) (string, error) { return k.one(p, key, checkNode) }

// reportOf parses <state>/<node>/<ref>.
func (k keys) reportOf(s state, key []byte) (node, ref string, err error) {
	rest, err := k.one(k.reports(s), key, func(string) error { return nil })
	if err != nil {
		return "", "", err
	}
	node, ref, ok := strings.Cut(rest, "/")
	if !ok || checkNode(node) != nil || store.CheckLabel(ref) != nil {
		return "", "", fmt.Errorf("key %q: not %s/<node>/<ref>: %w", key, s, ErrBadValue)
	}
	return node, ref, nil
}

// checkNode refuses a node name that cannot be one key segment.
func checkNode(node string) error {
	if node == "" || strings.ContainsAny(node, "/\x00") || len(node) > 255 {
		return fmt.Errorf("node name %q: 1 to 255 bytes, no slash: %w", node, store.ErrInvalid)
	}
	return nil
}

// checkGen refuses a generation out of 1..MaxGen.
func checkGen(g uint64) error {
	if g < 1 || g > MaxGen {
		return fmt.Errorf("generation %d out of range 1..2^53", g)
	}
	return nil
}

// checkPeer refuses an address that is not host:port.
func checkPeer(addr string) error {
	if len(addr) > 255 {
		return fmt.Errorf("peer address of %d bytes", len(addr))
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("peer address %q is not host:port", addr)
	}
	return nil
}

// maxUser bounds a user name carried with a release.
const maxUser = 256

// Values: each type is one key's value, with the rules decodeValue
// enforces.

// memberValue is members/<node>.
type memberValue struct {
	Peer string `json:"peer"`
}

func (m *memberValue) check() error { return checkPeer(m.Peer) }

// release is desired/<ref>: what the coordinator wants ref to serve next.
type release struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"` // zero only in a withdrawal of a first release
	// Prev is the snapshot committed when this was desired: a node that
	// does not serve it (one that joined late, or was away) stages it
	// too and activates it just before Snapshot, so that its activation
	// log carries the previous release's assets over like every other
	// node's.
	Prev   store.Ref `json:"prev"`
	Origin string    `json:"origin"` // peer address to pull from
	Node   string    `json:"node"`   // the coordinator
	Reason string    `json:"reason"`
	UID    int       `json:"uid,omitempty"`
	User   string    `json:"user,omitempty"`
	// Labels are the snapshot's labels on the origin: every member that
	// stages it gives it the free ones, so a label works from any member.
	Labels []string `json:"labels,omitempty"`
	// Withdrawn: an abort wrote this, naming the committed snapshot (or
	// none): members stage nothing new and drop the withdrawn lookahead.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

func (r *release) check() error {
	if err := checkGen(r.Gen); err != nil {
		return err
	}
	if r.Snapshot.IsZero() && !r.Withdrawn {
		return errors.New("no snapshot")
	}
	if !r.Withdrawn || r.Origin != "" {
		if err := checkPeer(r.Origin); err != nil {
			return err
		}
	}
	if err := checkWho(r.Node, r.UID, r.User, r.Reason); err != nil {
		return err
	}
	if len(r.Labels) > store.MaxLabels {
		return fmt.Errorf("%d labels", len(r.Labels))
	}
	for _, l := range r.Labels {
		if err := store.CheckLabel(l); err != nil {
			return err
		}
	}
	return nil
}

// checkWho checks who asked for a release and why.
func checkWho(node string, uid int, user, reason string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if uid < 0 || uid > 1<<32-1 {
		return fmt.Errorf("uid %d", uid)
	}
	if len(user) > maxUser {
		return fmt.Errorf("user name of %d bytes", len(user))
	}
	if err := store.CheckText("user", user); err != nil {
		return err
	}
	return store.CheckText("reason", reason)
}

// commit is committed/<ref>: the release every member serves.
type commit struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Prev     store.Ref `json:"prev"`
	Node     string    `json:"node"`
	Reason   string    `json:"reason"`
	UID      int       `json:"uid,omitempty"`
	User     string    `json:"user,omitempty"`
	// Members are the members that staged it: the next release names
	// those that left since (they may still serve this one).
	Members []string `json:"members,omitempty"`
	// Labels are desired's: a member that applies without having staged
	// (it was away for the whole release) adopts them too.
	Labels []string `json:"labels,omitempty"`
}

func (c *commit) check() error {
	if err := checkGen(c.Gen); err != nil {
		return err
	}
	if c.Snapshot.IsZero() {
		return errors.New("no snapshot")
	}
	if len(c.Members) > maxMembers {
		return fmt.Errorf("%d members", len(c.Members))
	}
	if len(c.Labels) > store.MaxLabels {
		return fmt.Errorf("%d labels", len(c.Labels))
	}
	for _, l := range c.Labels {
		if err := store.CheckLabel(l); err != nil {
			return err
		}
	}
	for _, m := range c.Members {
		if err := checkNode(m); err != nil {
			return err
		}
	}
	// A commit written before uid and user travelled has a node and
	// reason all the same.
	return checkWho(c.Node, c.UID, c.User, c.Reason)
}

// reportValue is staged/<node>/<ref> or applied/<node>/<ref>.
type reportValue struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"` // zero: a withdrawal with nothing to serve was staged
	// At, in applied keys, is when this node's local activation took
	// effect, by its clock.
	At time.Time `json:"at,omitzero"`
}

func (r *reportValue) check() error { return checkGen(r.Gen) }

// matches says whether a report is of exactly generation gen of id:
// a generation alone could name another snapshot (an abort's, or one
// etcd forgot in a restore).
func (r reportValue) matches(gen uint64, id store.Ref) bool { return r.Gen == gen && r.Snapshot == id }

// Eviction is evicted/<node>: who took a node out of the cluster, when
// and why.
type Eviction struct {
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

func (e *Eviction) check() error {
	if err := checkNode(e.By); err != nil {
		return err
	}
	return store.CheckText("reason", e.Reason)
}

// HistoryEntry is history/<ref>/<gen>: one committed generation, written
// once, in the commit's transaction, and chained by hash.
type HistoryEntry struct {
	Gen      uint64    `json:"gen"`
	Snapshot store.Ref `json:"snapshot"`
	Prev     store.Ref `json:"prev"` // the snapshot committed before
	Node     string    `json:"node"` // the coordinator
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
	PrevHash string    `json:"prev_hash"` // the hash of the entry before ("" for the first)
	Hash     string    `json:"hash"`      // SHA-256 of this entry's JSON with hash empty
	// UID and User came later: omitted when empty, so that the hashes of
	// entries written before them stay what they were.
	UID  int    `json:"uid,omitempty"`
	User string `json:"user,omitempty"`
}

func (h *HistoryEntry) check() error {
	if err := checkGen(h.Gen); err != nil {
		return err
	}
	return checkWho(h.Node, h.UID, h.User, h.Reason)
}

// checked is a value type decodeValue can check.
type checked interface{ check() error }

// decodeValue reads key's value into v and checks it: ErrBadValue, naming
// the key and what is wrong, if it cannot be read.
func decodeValue[T any, P interface {
	*T
	checked
}](key, b []byte) (T, error) {
	var v T
	if len(b) > maxValue {
		return v, fmt.Errorf("%s: a value of %d bytes, at most %d: %w", key, len(b), maxValue, ErrBadValue)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%s: %v: %w", key, err, ErrBadValue)
	}
	if err := P(&v).check(); err != nil {
		return v, fmt.Errorf("%s: %v: %w", key, err, ErrBadValue)
	}
	return v, nil
}

// encodeValue is a value as stored. Only a time outside years 0 to 9999
// can make one of the types above fail to marshal.
func encodeValue(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %T: %w", v, err)
	}
	return string(b), nil
}
