#!/bin/sh
# After the vfs package is installed: the group the unit gives the control
# socket to (members may deploy), and systemd told of the unit. Enabling and
# starting vfsd is left to the administrator: systemctl enable --now vfsd.
set -e
getent group vfs-deploy >/dev/null || groupadd --system vfs-deploy
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
