package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Bodies that stop arriving. A request's deadline (one minute, or twelve
// hours for long work) bounds the work, not the wait for its body: a
// client that sent half a body and waited once held its request, and its
// import, for twelve hours. Every body read must make progress within
// BodyIdle, and a JSON body must be whole within JSONBodyTime; either
// failing ends the request. The connection's own deadline is put back
// once the body is read whole: the server reads on in the background to
// see a hang-up, and a deadline passing there would cancel the request.

// Defaults of Server.BodyIdle and Server.JSONBodyTime.
const (
	DefaultBodyIdle     = 15 * time.Second
	DefaultJSONBodyTime = time.Minute
)

// idleBody wraps a request body with the deadlines above.
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	end      time.Time // the body's own deadline (zero: none)
	deadline time.Time // the request's
	set      time.Time // the read deadline last set
	done     bool
	stalled  *stalledError // why the body ended early, if it stalled
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	next := time.Now().Add(b.idle)
	if !b.end.IsZero() && b.end.Before(next) {
		next = b.end
	}
	if b.deadline.Before(next) {
		next = b.deadline
	}
	// Moved only when it would move by a second or more: setting it at
	// every read of a large body showed in an import's CPU profile.
	if d := next.Sub(b.set); d >= time.Second || d <= -time.Second {
		b.rc.SetReadDeadline(next)
		b.set = next
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.done = true
		b.rc.SetReadDeadline(b.deadline)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays passed: net/http reads what is left of a
		// body before it answers, and must not wait for it either.
		b.done = true
		b.stalled = &stalledError{idle: b.idle}
		err = b.stalled
	}
	return n, err
}

// stalledError: the body stopped arriving. It is a timeout, and it wins
// over the invalid that a decoder cut short would otherwise report.
type stalledError struct{ idle time.Duration }

func (e *stalledError) Error() string {
	return fmt.Sprintf("request body: no bytes for %s, or not whole in time", e.idle)
}
func (e *stalledError) Unwrap() error { return context.DeadlineExceeded }

// bodyError is what a decoder's failure reports: the request's own end,
// a stalled body, or else err (the body's own fault).
func bodyError(r *http.Request, err error) error {
	if b, ok := r.Body.(*idleBody); ok && b.stalled != nil {
		return b.stalled
	}
	if r.Context().Err() != nil {
		return fmt.Errorf("%v: %w", err, r.Context().Err())
	}
	return err
}
