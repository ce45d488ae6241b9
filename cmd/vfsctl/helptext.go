package main

// helpText is each command's long help, shown by --help and man pages and
// generated into docs/cli.md: the manual lives here, once.
var helpText = map[string]string{
	"snapshot import": `Imports a directory, or a tar archive (gzip detected by content; - reads
it from standard input: tar -C dist -c . | vfsctl snapshot import -), as a
snapshot, and prints its full id alone on the last line of standard output;
progress and a summary go to standard error. Importing the same content
again gives the same id and changes nothing. Files of a directory whose
size, mtime, ctime and inode are unchanged since the last import are not
read again.

Regular files, directories and symlinks that stay inside the tree are kept
with their permission bits (setuid, setgid and sticky are dropped); names
are kept byte for byte. Devices, fifos, sockets, symlinks that leave the
tree (absolute, .. past the root, or through other symlinks), symlink
loops, tar members with absolute or .. paths, names that are not UTF-8 or
longer than 255 bytes, and paths longer than 3,840 bytes or 256 levels are
refused with exit 6, naming the path; --skip-unsupported leaves them out
with a warning instead (a symlink that escapes only through other symlinks
is found when the whole tree is checked, and cannot be skipped). A file
that is neither a directory nor a tar archive is refused (exit 6). An
archive is read to the end of its stream: a damaged or truncated .tar.gz
is refused with exit 6. An interrupted import records nothing.

Left out: version-control metadata (.git, .hg, .svn), whatever the
directory's .vfsignore names (gitignore syntax, at the import root), and
what --exclude patterns name, in that order (a later "!pattern" re-includes).
.well-known/ and .htaccess stay. A .env file is imported with a warning: it
usually holds secrets, and the web server would serve it.

Progress: a bar on a terminal, a plain line every 5 seconds otherwise,
nothing with --quiet. Then a summary such as
"imported dist: 9250 files (9158 unchanged since the last import), 1021
directories, 137 MiB (1.2 MiB of it new to the store), 1.2 MiB read in
119ms". --json prints {"snapshot": {...}, "stats": {...}}.

Sizes in every command's text are binary units (KiB, MiB); --json gives
bytes.`,

	"deploy": `Imports a directory or tar archive as snapshot import does (the same
filters, labels and message), activates it on --ref (default current) with
--reason, and says what changed from the snapshot the ref served before:
"current: <from> -> <to>: N added, M removed, K changed". Prints the
snapshot's id on the last line of standard output; --json prints
{"snapshot", "stats", "activation", "changes"}. The common case in one step;
use import, snapshot diff and activate to look before switching. On a member
of a cluster, --cluster releases it on every member, as activate --cluster
does (same output and exit codes); a ref the cluster manages is refused
without it (--local moves it on this node alone).`,

	"snapshot pull": `Copies snapshot ID from another vfsd, whose --peer-listen address PEER is
(host:port): its trees and file records, and the chunks this store lacks,
in batches. Every tree and chunk is checked against its hash on arrival and
every file record against its chunks at commit, as an import is; the
snapshot is recorded only when all of it is here. File records keep the
origin's mtimes, so both nodes give the same validators (unless this store
already gave that size and mtime to other content). Labels stay behind: they
name snapshots on their own node. Prints the id; the summary says how much
was fetched and how much was already here.`,

	"snapshot list": `Snapshots oldest first: ID CREATED FILES SIZE REFS LABELS SIGNED MESSAGE.
SIGNED is the principal of a signature valid under vfsd's --allowed-signers
now, no-valid when the snapshot has signatures and none is valid (its key
was removed or expired: no ref that needs signatures can serve it again),
unchecked when vfsd has no allowed signers, - for none. --json prints
{"snapshots": [...], "refs": {"current": "<id>"}, "signed": {"<id>": MARK}}.`,

	"snapshot show": `Without PATH: the snapshot's record and its root directory. A directory
lists mode, size, content hash (12 characters) and name; a file shows its
content hash, size, mode, content mtime and chunk count; a symlink its
target. With --classes, every file below PATH as asset or entry.`,

	"snapshot diff": `Paths that differ from A to B, in path order: "+ /path (SIZE)",
"- /path (SIZE)", "M /path (OLD -> NEW)", sizes such as 12 KiB. Directories that appear
or vanish are listed file by file. B may be a directory: it is hashed in
memory, as an import would see it (.vfsignore included), and nothing is
written; a dry run of a deploy. --json prints a list of
{"op", "path", "kind", "old_size", "new_size"}.`,

	"snapshot export": `Writes the snapshot into a new (or empty) directory, or as a tar archive to
a path ending in .tar, a gzip-compressed one to a path ending in .tar.gz or
.tgz, or a tar to standard output (-). A name ending in another archive's
extension (.zip, .xz, ...) is refused (exit 2). Files keep their content
mtimes. A tar is written to a temporary file and renamed, so a failed export
leaves nothing under the requested name.`,

	"snapshot rm": `Removes the snapshot's record and labels. Refused (exit 1) while a ref
points at it or it is pinned. Its objects stay until gc, shared objects as long as any
snapshot uses them.`,

	"snapshot sign": `Signs the snapshot with an ssh key and attaches the signature, or attaches
one made elsewhere (--signature). The signed message is exactly
"vfs-snapshot <64-hex id>" and a newline, in the namespace vfs: what
  printf 'vfs-snapshot %s\n' ID | ssh-keygen -Y sign -n vfs -f KEY
signs too, and what anyone can check without vfs:
  printf 'vfs-snapshot %s\n' ID | ssh-keygen -Y verify -f allowed_signers -I PRINCIPAL -n vfs -s SIG
--key takes a private key file without a passphrase, or a public key (.pub)
whose private half is in the ssh-agent at SSH_AUTH_SOCK. vfsd checks a
signature before it attaches it (a malformed one, or one of another
snapshot or namespace, is refused with exit 6); a snapshot carries at most
32. With vfsd --allowed-signers, only a snapshot signed by an allowed key
is served (docs/security.md, "Signed releases"); the answer says whether
the signature counts there.`,

	"snapshot label": `Gives the snapshot one more label. A label names one snapshot: giving it to
another is refused (exit 1) unless --move takes it from the one it names.
The mount shows labelled snapshots at /labels/LABEL/. A label is a name
only: it keeps nothing from retention (snapshot pin does). Labels and ref
names are one path component without spaces or control characters, not
starting with @ or - (exit 6).`,

	"snapshot unlabel": `Removes a label; the snapshot it named stays, and /labels/LABEL/ is gone
from the mount.`,

	"snapshot pin": `Pins the snapshot: prune keeps it whatever the policy says, and snapshot
rm refuses it until it is unpinned. Labelled snapshots of stores from
before labels could move were pinned when the store was upgraded.`,

	"snapshot unpin": `Unpins the snapshot: retention may remove it again.`,

	"snapshot prune": `Applies the retention policy (docs/skew.md) and prints "keep <id> <reasons>"
or "dropped <id> created <time>" per snapshot ("drop" with --dry-run), then a
summary. Always kept: what a ref points at, and pinned snapshots. Flags not
given come from the store's policy (default: last 10 per ref, within 7d);
--save stores the given values as the policy. Objects of removed snapshots
stay until gc. Keep --keep-within at least as long as vfsd's --grace, or
assets of recent deploys stop being carried over early. --json prints
{"policy", "decisions": [{"snapshot", "keep", "reasons"}]}.`,

	"activate": `Points the ref (default current) at the snapshot and appends to the
activation log (time, ref, from, to, uid, pid, user name, reason) in one
transaction. First it checks that every object of the snapshot is present
(--verify: re-hashes every chunk); a damaged snapshot is refused, naming the
first path affected (exit 3 for a missing object, 5 for a corrupt one), and
the ref does not move. The check is remembered, across restarts, until the
next gc that deletes something, so the switch itself does not depend on the
snapshot's size. Prints "current: <from> -> <to>" on standard error; --json
prints the log entry. Activating the snapshot the ref already serves does
nothing (no log entry, no hooks, exit 0) and says so ("unchanged": true with
--json). Hooks of vfsd that fail are reported, and make the exit code 1,
but the activation stands. --dry-run says what would move and how many
paths differ, and changes nothing.

--cluster (through a vfsd started with --cluster) switches the ref on every
member together: the snapshot, which this vfsd must hold, becomes the ref's
next generation; every member pulls what it lacks from this one and stages
it; once all have, this vfsd commits the flip and every member activates it.
Exit 0 once every live member serves it; exit 1 naming the members that did
not, when --wait ends (the release then stays desired, or with --abort is
withdrawn), or the members that served the release before and left since.
The answer comes within --wait and 10 s whatever etcd does; etcd out of
reach is its own error kind (etcd). Without --cluster, a ref the cluster
manages is refused (kind managed): --local moves it on this node alone, a
logged exception after which the node answers 503 on /v1/ready (drift) until
the cluster's next release.`,

	"cluster status": `For each ref: the committed release (generation, snapshot, reason), a
release desired and not yet committed, a value in etcd that cannot be read,
and whether etcd is behind this node (restored from a backup?). For each
member: whether it is ready or why not (asked on its peer listener), and per
ref what it staged, applied and serves, and "drift" when it serves another
snapshot than committed. With etcd out of reach it answers within a few
seconds all the same: "etcd unreachable since T", then the last state this
node read. Text from etcd is quoted where it holds control characters.
--json prints it whole.`,

	"cluster evict": `Takes NODE out of vfsd's cluster: its membership ends at once, so a
release waiting for it (activate --cluster) goes on without it, and it may not
join again. The evicted node answers 503 on /v1/ready, saying why, and keeps
serving what it has. For a node that is alive but holds releases up (a dead
one leaves by itself when its lease lapses). A node cannot evict itself.
cluster status lists evicted nodes.`,

	"cluster log": `Every committed generation of REF (default current) across vfsd's cluster,
oldest first: when, from which snapshot to which, by which node, and why.
Each entry was written once, in the commit's own etcd transaction, and names
the hash of the one before: an entry edited, removed or inserted since shows
as a broken chain (exit 5, naming the first bad entry). --json prints the
entries with their hashes.`,

	"cluster admit": `Lets an evicted NODE join vfsd's cluster again. It catches up to the
committed releases by itself and is ready once it serves them. Exit 3 if
NODE was not evicted.`,

	"rollback": `Activates the last snapshot the ref served that differs from the one it
serves now (from the activation log; not the previous import). A second
rollback undoes the first. With no earlier activation: exit 1, "no earlier
activation". --to ID|LABEL goes back to that snapshot, --to @TIME to what the
ref served at that instant (@2026-11-20T10:00:00Z, @yesterday, "@2h ago"),
and --steps N that many different targets back (each counted once; 1 is a
plain rollback). --cluster rolls back on every member together, as activate
--cluster does; the snapshot is already on all of them, so nothing is copied.`,

	"ref list": `Every ref (current, canary, previews) with the snapshot it serves, when it
was moved there, by whom and why (from the activation log). --json prints
[{"ref", "snapshot", "since", "uid", "user", "reason"}].`,

	"ref rm": `Removes ref NAME: /refs/NAME/ goes from the mount, and the activation log
records the removal (TO is none), who did it and --reason. current cannot be
removed (activate another snapshot instead). The snapshot it served stays
until retention lets it go. Exit 3 if there is no such ref.`,

	"dial-stdio": `Connects to vfsd's socket (--socket, VFS_SOCKET or the default), writes one
line that says whether it did (the banner), then copies standard input to
the socket and the socket to standard output until either ends. vfsctl
--host ssh://... runs it on the far side over ssh; an authorized_keys line
can force it: restrict,command="vfsctl dial-stdio". It ignores
SSH_ORIGINAL_COMMAND: the socket is the one the forced command names.`,

	"status": `The store directory, the daemon serving it (pid and mount, through vfsd),
how many snapshots the store holds, and each ref's snapshot with its file
count and size. Through vfsd it succeeds only once vfsd is ready (mount
live, socket answering): scripts wait for vfsd with it.`,

	"log": `The activation log, oldest first: SEQ TIME REF FROM TO USER PID REASON.
--since takes a time: RFC 3339, a date, "yesterday", "2h ago"; -n N keeps
the last N entries (after --ref and --since); --reverse prints newest first.
A removed ref's entry has TO none.`,

	"verify": `Re-hashes every chunk, file and tree of every snapshot (or of one), reading
each shared object once, and without an ID also checks the activation log's
hash chain. Prints "DAMAGED snapshot <id> <path> (object <hash>): <error>"
per damaged object and "LOG ..." per break in the chain, with progress on
standard error. Exit 5 if anything is damaged.`,

	"gc": `Deletes the chunks, files and trees no snapshot reaches, then compacts so
that disk space comes back: "deleted N chunks, N files, N trees (N snapshots
kept); disk X -> Y", with progress on standard error. Through vfsd, files
the mount still holds and objects of imports under way are kept, serving goes
on, and imports pause while objects are marked.`,

	"purge": `Withdraws content from /a/ and from asset carry-over (docs/skew.md), for the
day a secret is published by mistake: PATH purges every content any snapshot
has at that path, HASH one content. The active snapshot still serves its own
files: deploy one without the file, then purge. Snapshots themselves stay
exact (/snapshots/<id>/): remove them and run gc to delete the bytes. Prints
"purged <hash>" per content. Exit 3 if nothing is at PATH in any snapshot, or no such content.`,

	"classes": `Shows, or with flags replaces, the store's asset patterns (docs/skew.md).
Built-in rule: HTML files are entries; a file whose name carries a content
hash (index-BxK3f9aQ.js, main.3f2a1b9c.chunk.js) or lies under _next/static/
is an asset; everything else is an entry. Patterns add to it; exclude wins.
With flags, the given patterns replace the stored ones. A bad pattern is
exit 2. Through vfsd the mount uses the new patterns at once.`,

	"config": `Prints a web server configuration for the mount (docs/operations.md,
"Previews and canaries"). nginx: put the output inside the http {} block (it
has http-level maps and server blocks). With vfsd stopped the site answers
503, not 404 (Apache: mod_rewrite). /snapshots/ is not served unless
--expose-snapshots: it would make every retained snapshot public, content
withdrawn from the live site included; preview hosts are the narrower way. apache: a <VirtualHost> (with
--canary it needs mod_rewrite and mod_unique_id). Entries get Cache-Control
no-cache, /assets/ and /a/ a year, immutable. --preview-domain serves every
snapshot at <12-character id>.DOMAIN. --canary sends that share of new
clients to the canary ref (the live site until one exists), sticky by a
cookie, and says the side in X-VFS-Side. --spa serves /index.html for paths
that are no file (not under /assets/ or /a/). --ref serves another ref than
current. The mount is the running vfsd's unless --mount says. caddy: site
blocks for a Caddyfile (Caddy 2.6), plain HTTP on the --listen port, with
file_server { precompressed br gzip }; --canary is for nginx and apache. All
three serve name.br or name.gz that a site ships beside name to clients that
accept it (nginx gzip_static, and brotli_static per --brotli; Apache a
mod_rewrite recipe).`,

	"backup": `Writes a full backup of the store (Badger's backup stream) to FILE or to
standard output (-). Works while vfsd serves, through its socket, and sees
one consistent moment. Content mtimes and the activation log are kept, so
validators and history survive a restore. A file is written under a
temporary name and renamed.`,

	"restore": `Loads a backup into the store named by --store, which must hold no snapshot
(exit 1 otherwise). Not through vfsd (exit 2): restore into a new directory
with vfsd stopped, then start vfsd on it.`,
}
