#!/usr/bin/env bash
# The rows of the "million files" issue, each side by side with its reference
# in one run: import against cp -a, re-import, activation against a 10-file
# snapshot, browsing against native find and restic mount, and vfsd's RSS.
# Needs root, fuse3, restic and bin/ (make build); about 15 minutes and 10 GB
# of disk at the default size.
# Usage: integration/bench_scale.sh [DIRS (1000)] [MAX-NODES (100000)]
set -euo pipefail
dirs=${1:-1000}
maxnodes=${2:-100000}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
work=$(mktemp -d /tmp/vfs-bench-scale.XXXXXX)
cleanup() {
	for m in "$work/mnt" "$work/restic-mnt"; do fusermount3 -uz "$m" 2>/dev/null || true; done
	pkill -f "vfsd --store $work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# t prints how long a command took, in seconds.
t() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
row() { printf '| %s | %s s | %s | %s s | %s |\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")"; }
# walk times find -type f over $1 and fails unless it saw $2 files.
walk() {
	local s n
	s=$(date +%s.%N)
	n=$(find "$1" -type f | wc -l)
	[ "$n" -eq "$2" ] || { echo "find $1 saw $n files, want $2" >&2; exit 1; }
	echo "$(date +%s.%N) - $s" | bc
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

python3 - "$dirs" <<'PY'
import os, sys
def tree(root, dirs):
    for d in range(dirs):
        os.makedirs(f"{root}/d{d:04}")
        for f in range(1000):
            with open(f"{root}/d{d:04}/f{f:04}.txt", "w") as fh:
                fh.write(f"{d}-{f}\n")
    with open(f"{root}/index.html", "w") as fh:
        fh.write(root)
tree("big", int(sys.argv[1]))
tree("small10k", 10)
for name in ("a", "b"):
    os.makedirs(f"tiny-{name}")
    for f in range(9):
        with open(f"tiny-{name}/f{f}.txt", "w") as fh:
            fh.write(name)
    with open(f"tiny-{name}/index.html", "w") as fh:
        fh.write(f"tiny-{name}")
PY
files=$((dirs * 1000))
echo "| row | vfs | reference | reference time | ratio (vfs / reference) |"
echo "| --- | --- | --- | --- | --- |"

drop; cp_t=$(t cp -a big big-copy); rm -rf big-copy
drop; imp_t=$(t "$bin/vfsctl" --store st -q snapshot import big)
row "direct import of $files files" "$imp_t" "cp -a" "$cp_t"
re_t=$(t "$bin/vfsctl" --store st -q snapshot import big)
row "re-import unchanged" "$re_t" "first import" "$imp_t"
big=$("$bin/vfsctl" --store st -q snapshot import big)
a=$("$bin/vfsctl" --store st -q snapshot import tiny-a)
b=$("$bin/vfsctl" --store st -q snapshot import tiny-b)
small=$("$bin/vfsctl" --store st -q snapshot import small10k)
"$bin/vfsctl" --store st -q activate "$a"

mkdir mnt
"$bin/vfsd" --store st --mount mnt --socket s.sock --max-nodes "$maxnodes" 2>vfsd.log &
pid=$!
until "$bin/vfsctl" --socket s.sock status >/dev/null 2>&1; do sleep 0.1; done
# switch activates $1 and reads /current/index.html until it says $2.
switch() {
	"$bin/vfsctl" --socket s.sock -q activate "$1"
	until [ "$(cat mnt/current/index.html)" = "$2" ]; do :; done
}
# The first activation of a snapshot checks that every object it names is
# present (a walk of all its files), then remembers that until the next gc.
first_big=$(t switch "$big" big)
first_tiny=$(t switch "$b" tiny-b)
row "first activation to first read, $files-file snapshot (presence check)" "$first_big" "10-file snapshot" "$first_tiny"
switch "$a" tiny-a
tiny=0; large=0
for i in $(seq 10); do
	tiny=$(echo "$tiny + $(t switch "$b" tiny-b) + $(t switch "$a" tiny-a)" | bc)
	large=$(echo "$large + $(t switch "$big" big) + $(t switch "$a" tiny-a)" | bc)
done
row "activation to first read, $files-file snapshot and back (20)" "$large" "10-file snapshots (20)" "$tiny"

# Rollback to the big snapshot before and after a gc that deletes
# something: a sweep keeps the presence markers of the snapshots that
# survive it, so neither walks the big snapshot's files.
back() {
	"$bin/vfsctl" --socket s.sock -q rollback
	until [ "$(cat mnt/current/index.html)" = "$1" ]; do :; done
}
switch "$big" big; switch "$a" tiny-a
rb_before=$(t back big)
mkdir junk; date +%s%N >junk/x
junk=$("$bin/vfsctl" --socket s.sock -q snapshot import junk)
"$bin/vfsctl" --socket s.sock -q snapshot rm "$junk"
"$bin/vfsctl" --socket s.sock -q gc >/dev/null
switch "$a" tiny-a
rb_after=$(t back big)
row "rollback to the $files-file snapshot, after a gc that deleted objects" "$rb_after" "the same rollback before the gc" "$rb_before"

n=$((files + 1))
drop; vfs_cold=$(walk "mnt/snapshots/$big" $n); vfs_warm=$(walk "mnt/snapshots/$big" $n)
drop; nat_cold=$(walk big $n); nat_warm=$(walk big $n)
row "find -type f, $files files, cold" "$vfs_cold" "native find" "$nat_cold"
row "find -type f, $files files, warm" "$vfs_warm" "native find" "$nat_warm"
find "mnt/snapshots/$big" -type f | awk 'NR % 10 == 0' | xargs cat >/dev/null
sleep 2
echo
# RssFile is Badger's memory-mapped tables and value log: page cache the
# kernel may reclaim; RssAnon is the daemon's own memory.
mib() { awk -v k="$1:" '$1 == k {print int($2/1024)}' /proc/$pid/status; }
echo "vfsd RSS after a full traversal and reading 10% of the files (--max-nodes $maxnodes): $(mib VmRSS) MiB ($(mib RssAnon) MiB anonymous, $(mib RssFile) MiB mapped store files)"

export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$work/restic
restic init -q >/dev/null
restic backup -q small10k >/dev/null
mkdir restic-mnt
restic mount --allow-other restic-mnt >restic.log 2>&1 &
rpid=$!
until [ -d restic-mnt/snapshots/latest/small10k ]; do sleep 0.2; done
# latest is a symlink; restic keeps the path as it was given.
rdir=restic-mnt/snapshots/latest/small10k
drop; r_cold=$(walk "$rdir" 10001); r_warm=$(walk "$rdir" 10001)
drop; v_cold=$(walk "mnt/snapshots/$small" 10001); v_warm=$(walk "mnt/snapshots/$small" 10001)
echo
echo "| row | vfs | restic mount | ratio |"
echo "| --- | --- | --- | --- |"
echo "| find -type f, 10,000 files, cold | $v_cold s | $r_cold s | $(ratio "$v_cold" "$r_cold") |"
echo "| find -type f, 10,000 files, warm | $v_warm s | $r_warm s | $(ratio "$v_warm" "$r_warm") |"
kill "$rpid"; wait "$rpid" 2>/dev/null || true
kill "$pid"; wait "$pid"
