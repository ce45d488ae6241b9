package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vfs-project/vfs/snapshot"
	"golang.org/x/term"
)

// progress renders import progress: a bar redrawn in place on a terminal,
// a plain line every few seconds otherwise (CI logs), nothing when quiet.
type progress struct {
	w        io.Writer
	tty      bool
	lastLine time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) update(s snapshot.Stats) {
	if s.Committing {
		p.lastLine = time.Time{} // shown at once: the commit may take a while
		p.line(fmt.Sprintf("%d files read; committing: checking them and compressing the new text files (br, gzip) on every core", s.Files))
		return
	}
	p.line(progressLine(s))
}

// line shows one line of progress of any long work.
func (p *progress) line(line string) {
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.lastLine) < every {
		return
	}
	p.lastLine = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the bar's line.
func (p *progress) done() {
	if p.tty && !p.lastLine.IsZero() {
		fmt.Fprintln(p.w)
	}
}

func progressLine(s snapshot.Stats) string {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.BytesRead) / secs
	}
	if s.FilesTotal == 0 || s.Walking { // a tar stream, or totals still growing
		return fmt.Sprintf("%d files, %s, %s/s", s.Files, humanize.IBytes(uint64(s.Bytes)), humanize.IBytes(uint64(rate)))
	}
	frac := float64(s.Bytes) / float64(max(s.BytesTotal, 1))
	const width = 24
	filled := min(int(frac*width), width)
	return fmt.Sprintf("[%s%s] %3.0f%% %d/%d files, %s/%s, %s/s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		100*frac, s.Files, s.FilesTotal, humanize.IBytes(uint64(s.Bytes)), humanize.IBytes(uint64(s.BytesTotal)), humanize.IBytes(uint64(rate)))
}
