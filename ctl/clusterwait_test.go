package ctl_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/store"
)

// --wait is a bound on a cluster activation's answer whatever the daemon
// does: against a vfsd that never answers (a coordinator stopped with
// SIGSTOP), the client gives up after --wait and its margin, and says
// the release may still go out.
func TestClusterActivateWaitIsABound(t *testing.T) {
	defer ctl.SetClusterMargin(100 * time.Millisecond)()
	sock := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	c, err := ctl.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ClusterActivate(context.Background(), "current", store.Ref{1}, "", 200*time.Millisecond, false)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "may still go out") {
		t.Errorf("against a daemon that never answers: %v", err)
	}
}
