package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// webUser finds the user the web server runs as: name if given, else
// www-data, else nobody. ok is false when none exists.
func webUser(name string) (u *user.User, ok bool) {
	names := []string{"www-data", "nobody"}
	if name != "" {
		names = []string{name}
	}
	for _, n := range names {
		if u, err := user.Lookup(n); err == nil {
			return u, true
		}
	}
	return nil, false
}

// reachable reports why u cannot reach dir (nil if it can): every
// directory from / down to dir must let u search it (x for its owner,
// one of its groups, or others). vfsd once made missing parents 0700,
// and nginx answered 403 on every path while vfsd said ready.
func reachable(dir string, u *user.User) error {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return err
	}
	gids := map[int]bool{}
	if list, err := u.GroupIds(); err == nil {
		for _, g := range list {
			if n, err := strconv.Atoi(g); err == nil {
				gids[n] = true
			}
		}
	}
	if n, err := strconv.Atoi(u.Gid); err == nil {
		gids[n] = true
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode().Perm()
		var can bool
		switch {
		case uid == 0:
			can = true
		case int(st.Uid) == uid:
			can = mode&0o100 != 0
		case gids[int(st.Gid)]:
			can = mode&0o010 != 0
		default:
			can = mode&0o001 != 0
		}
		if !can {
			return fmt.Errorf("%s (mode %04o, owner %d:%d) does not let user %s (uid %d) through", p, mode, st.Uid, st.Gid, u.Username, uid)
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}
