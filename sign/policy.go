package sign

import (
	"fmt"
	"os"
	"path"
	"sync"
	"time"

	"github.com/vfs-project/vfs/store"
)

// A Policy is what vfsd --allowed-signers enforces: every snapshot a ref
// is to serve needs a valid signature from the allowed signers file, except
// on refs that match one of the unsigned patterns (--unsigned-refs, say
// preview-*: previews of branch builds). The file is re-read on Reload
// (SIGHUP) and by Watch when it changes; a file that no longer parses
// leaves the policy as it was, and says why.
type Policy struct {
	path     string
	unsigned []string

	mu      sync.RWMutex
	signers *Signers
	stat    fileStamp // of the file last read
	gen     uint64    // bumped at each successful read
}

type fileStamp struct {
	mtime time.Time
	size  int64
}

// NewPolicy reads the allowed signers file at file. unsignedRefs are
// path.Match patterns of refs that may serve unsigned snapshots.
func NewPolicy(file string, unsignedRefs []string) (*Policy, error) {
	for _, p := range unsignedRefs {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("unsigned refs pattern %q: %w", p, err)
		}
	}
	p := &Policy{path: file, unsigned: unsignedRefs}
	if _, err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the file again. On an error the policy keeps the signers it
// had. changed reports whether the file's keys were read anew.
func (p *Policy) Reload() (changed bool, err error) {
	fi, err := os.Stat(p.path)
	if err != nil {
		return false, fmt.Errorf("allowed signers: %w", err)
	}
	ss, err := ReadSigners(p.path)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signers, p.stat = ss, fileStamp{fi.ModTime(), fi.Size()}
	p.gen++
	return true, nil
}

// Changed reports whether the file looks different from when it was last
// read (its mtime or size), for a watcher that polls.
func (p *Policy) Changed() bool {
	fi, err := os.Stat(p.path)
	if err != nil {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return fi.ModTime() != p.stat.mtime || fi.Size() != p.stat.size
}

// Path is the allowed signers file.
func (p *Policy) Path() string { return p.path }

// Signers are the allowed signers now.
func (p *Policy) Signers() *Signers {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.signers
}

// Generation counts the successful reads of the file: a result cached
// under one generation holds until the next.
func (p *Policy) Generation() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.gen
}

// Requires reports whether ref needs signed snapshots.
func (p *Policy) Requires(ref string) bool {
	for _, pat := range p.unsigned {
		if ok, _ := path.Match(pat, ref); ok {
			return false
		}
	}
	return true
}

// Check decides whether ref may serve snapshot id, whose signatures are
// sigs: the principal of the first valid one, or ErrUnsigned. A ref the
// policy exempts may serve anything (the principal is still given when a
// signature is valid).
func (p *Policy) Check(ref string, id store.Ref, sigs [][]byte) (principal string, err error) {
	s, err := p.Signers().Check(id, sigs, time.Now())
	if err != nil {
		if !p.Requires(ref) {
			return "", nil
		}
		return "", err
	}
	return s.Principal(), nil
}
