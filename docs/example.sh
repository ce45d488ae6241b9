#!/usr/bin/env bash
# Runs vfs on the example site: starts vfsd on a fresh store and mount under
# $EXAMPLE (default /tmp/vfs-example), imports docs/example-site through the
# control socket, activates it, and tells how to point nginx at it.
# Needs root (vfsd mounts with mount(2)) and fuse3. `make example-stop` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLE=${EXAMPLE:-/tmp/vfs-example}
BIN=${BIN:-bin}

if [ -f "$EXAMPLE/vfsd.pid" ] && kill -0 "$(cat "$EXAMPLE/vfsd.pid")" 2>/dev/null; then
  echo "vfsd is already running for $EXAMPLE (make example-stop ends it)" >&2
  exit 1
fi
rm -rf "$EXAMPLE" && mkdir -p "$EXAMPLE/mnt"
chmod 755 "$EXAMPLE" "$EXAMPLE/mnt"
export VFS_SOCKET=$EXAMPLE/vfsd.sock
"$BIN/vfsd" --store "$EXAMPLE/store" --mount "$EXAMPLE/mnt" >"$EXAMPLE/vfsd.log" 2>&1 &
echo $! >"$EXAMPLE/vfsd.pid"
for _ in $(seq 100); do
  "$BIN/vfsctl" status >/dev/null 2>&1 && break
  kill -0 "$(cat "$EXAMPLE/vfsd.pid")" 2>/dev/null || { cat "$EXAMPLE/vfsd.log" >&2; exit 1; }
  sleep 0.1
done
"$BIN/vfsctl" status >/dev/null

"$BIN/vfsctl" snapshot import docs/example-site --label example --activate --reason "example"
echo
"$BIN/vfsctl" status
echo
ls -l "$EXAMPLE/mnt/current" "$EXAMPLE/mnt/current/assets"
cat <<MSG

vfsd is serving $EXAMPLE/mnt (log: $EXAMPLE/vfsd.log). Try:
  export VFS_SOCKET=$VFS_SOCKET
  cat $EXAMPLE/mnt/current/index.html
  $BIN/vfsctl snapshot list

Point nginx at it: vfsctl writes the server block for this mount (validators,
cache headers, /a/ by hash):
  $BIN/vfsctl config nginx --server-name example.test > /etc/nginx/sites-enabled/vfs-example
  nginx -t && nginx -s reload
(vfsctl config apache does the same for Apache.)

Stop it with: make example-stop
MSG
