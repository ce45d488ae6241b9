#!/usr/bin/env bash
# Browsing and memory by vfsd --max-nodes, side by side in one run: a
# snapshot of DIRS directories of 1,000 small files, one vfsd per setting,
# `find` cold and warm, `cat` of every file, RSS two seconds later; then
# native find of the source tree. Needs root, fuse3 and bin/ (make build).
# Usage: integration/bench_browse.sh [DIRS (100)] [MAX-NODES... (0 100000 20000)]
set -euo pipefail
dirs=${1:-100}; shift || true
caps=("$@"); [ ${#caps[@]} -gt 0 ] || caps=(0 100000 20000)
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
work=$(mktemp -d /tmp/vfs-bench-browse.XXXXXX)
trap 'fusermount3 -uz "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
python3 - "$dirs" <<'PY'
import os, sys
for d in range(int(sys.argv[1])):
    os.makedirs(f"tree/d{d:04}")
    for f in range(1000):
        with open(f"tree/d{d:04}/f{f:04}.txt", "w") as fh:
            fh.write(f"{d}-{f}\n")
PY
t() { local s; s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
"$bin/vfsctl" --store st -q activate "$("$bin/vfsctl" --store st -q snapshot import tree)"
echo "| --max-nodes | find cold (s) | find warm (s) | read every file (s) | RSS (MiB) |"
for cap in "${caps[@]}"; do
  mkdir -p mnt
  "$bin/vfsd" --store st --mount mnt --socket s.sock --max-nodes "$cap" 2>vfsd.log &
  pid=$!
  until "$bin/vfsctl" --socket s.sock status >/dev/null 2>&1; do sleep 0.1; done
  sync; echo 3 >/proc/sys/vm/drop_caches
  cold=$(t find mnt/current -type f); warm=$(t find mnt/current -type f)
  all=$(t sh -c 'find mnt/current -type f -print0 | xargs -0 cat')
  sleep 2
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
  echo "| $cap | $cold | $warm | $all | $rss |"
  kill "$pid"; wait "$pid"
done
sync; echo 3 >/proc/sys/vm/drop_caches
echo "native find: cold $(t find tree -type f) s, warm $(t find tree -type f) s"
