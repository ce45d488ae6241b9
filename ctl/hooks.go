package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Hooks are commands vfsd runs after each activation (CDN purge, a chat
// message), with VFS_REF, VFS_FROM and VFS_TO in their environment. A hook
// that fails or outlives Timeout is logged and reported to the caller; the
// activation stands.
type Hooks struct {
	Commands []string // run with sh -c, one after another
	Timeout  time.Duration
	Log      *slog.Logger
}

// Run runs every hook for activation e and returns one message per failure.
func (h *Hooks) Run(e store.LogEntry) []string {
	var failures []string
	for _, c := range h.Commands {
		if err := h.run(c, e); err != nil {
			h.Log.Error("activation hook failed", "hook", c, "ref", e.Ref, "to", e.To.Short(), "err", err)
			failures = append(failures, fmt.Sprintf("hook %q: %v", c, err))
		} else {
			h.Log.Info("activation hook done", "hook", c, "ref", e.Ref, "to", e.To.Short())
		}
	}
	return failures
}

func (h *Hooks) run(command string, e store.LogEntry) error {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	from := ""
	if !e.From.IsZero() {
		from = e.From.String()
	}
	cmd.Env = append(os.Environ(), "VFS_REF="+e.Ref, "VFS_FROM="+from, "VFS_TO="+e.To.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a hook's children holding the output open do not hang us
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(lastLine(out.String())))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
