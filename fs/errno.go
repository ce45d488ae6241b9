package fs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/vfs-project/vfs/store"
)

// toErrno is the one place errors become FUSE status codes. Damage is EIO
// with a log line: wrong bytes are never served. go-fuse's own ToErrno does
// not unwrap, so it is not used.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, store.ErrCorrupt):
		log.Error("corrupt object: answering EIO", "op", op, "err", err)
		return syscall.EIO
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	log.Error("store error: answering EIO", "op", op, "err", err)
	return syscall.EIO
}
