package ctl

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vfs-project/vfs/store"
)

// Begin opens an import on the daemon. The batch it returns sends writes
// in large requests, several in flight, and reports a failure at the next
// write or at Commit.
func (c *Client) Begin() (store.Batch, error) {
	st, err := opBegin.call(c.ctx, c, none{})
	if err != nil {
		return nil, err
	}
	return &remoteBatch{c: c, id: st.ID, sem: make(chan struct{}, inFlight), queued: map[store.Ref]struct{}{}, wanted: map[store.Ref]bool{}}, nil
}

const (
	// askAbove is the chunk size above which the client offers a chunk's
	// hash before its bytes; below it, sending costs less than asking.
	askAbove = 16 << 10
	// sendBytes is how many bytes of chunks one request carries.
	sendBytes = 8 << 20
	// offerBytes is how many bytes of offered chunks are held while the
	// daemon is asked which it lacks.
	offerBytes = 32 << 20
	// objectsEach is how many records one objects request carries.
	objectsEach = 8192
	// objectBytes bounds an objects request's body.
	objectBytes = 16 << 20
	// inFlight is how many requests of one import run at once: enough to
	// keep the daemon busy while the next batch fills.
	inFlight = 2
)

// remoteBatch is one import through the socket.
type remoteBatch struct {
	c   *Client
	id  string
	sem chan struct{}
	wg  sync.WaitGroup

	mu      sync.Mutex
	err     error                  // the first failure; every later call returns it
	ended   bool                   // committed or aborted
	queued  map[store.Ref]struct{} // chunks sent or queued: each goes once
	wanted  map[store.Ref]bool     // chunks the daemon said it lacks: sent without offering
	frames  []byte                 // small chunks not yet sent, framed
	offers  []offer                // big chunks not yet offered
	offered int
	objs    []byte // records not yet sent, in RecordsType form
	nobjs   int

	newBytes atomic.Int64 // the daemon's count, from each chunks answer

	vars       []variantUpload    // variants not yet sent
	noVariants bool               // the daemon has no variants endpoint: it compresses itself
	noCompress bool               // SetCompress(false)
	vstats     store.VariantStats // the commit's answer
}

// NewBytes is how many bytes of the chunks sent so far the daemon's store
// did not hold; chunks still queued are not counted.
func (b *remoteBatch) NewBytes() int64 { return b.newBytes.Load() }

type offer struct {
	ref  store.Ref
	data []byte
}

// dispatch runs send in the background, at most inFlight at once; the
// caller blocks while that many are running, which bounds what is held.
func (b *remoteBatch) dispatch(send func() error) {
	b.sem <- struct{}{}
	b.wg.Add(1)
	go func() {
		defer func() { <-b.sem; b.wg.Done() }()
		if err := send(); err != nil {
			b.fail(err)
		}
	}()
}

func (b *remoteBatch) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

func (b *remoteBatch) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// usable is checked under mu by every write.
func (b *remoteBatch) usable() error {
	if b.err != nil {
		return b.err
	}
	if b.ended {
		return store.ErrImportEnded
	}
	return nil
}

func (b *remoteBatch) CachedRefs(q []store.StatQuery) ([]store.Ref, error) {
	if err := b.failed(); err != nil {
		return nil, err
	}
	out := make([]store.Ref, 0, len(q))
	for len(q) > 0 {
		part := q[:min(len(q), maxBatch)]
		q = q[len(part):]
		ans, err := opCached.call(b.c.ctx, b.c, cachedRequest{ID: b.id, Queries: part})
		if err != nil {
			return nil, err
		}
		if len(ans.Refs) != len(part) {
			return nil, fmt.Errorf("stat cache: %d answers to %d questions: %w", len(ans.Refs), len(part), ErrUnavailable)
		}
		for _, r := range ans.Refs {
			if r == nil {
				out = append(out, store.Ref{})
			} else {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}

func (b *remoteBatch) PutChunk(data []byte) (store.Ref, error) {
	ref := store.Sum(data)
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return ref, err
	}
	if _, ok := b.queued[ref]; ok {
		b.mu.Unlock()
		return ref, nil
	}
	b.queued[ref] = struct{}{}
	var send func() error
	if len(data) > askAbove && !b.wanted[ref] {
		b.offers = append(b.offers, offer{ref, bytes.Clone(data)})
		b.offered += len(data)
		if b.offered >= offerBytes {
			send = b.takeOffers()
		}
	} else {
		if b.frames == nil {
			b.frames = make([]byte, 0, sendBytes+askAbove+binary.MaxVarintLen64)
		}
		b.frames = binary.AppendUvarint(b.frames, uint64(len(data)))
		b.frames = append(b.frames, data...)
		if len(b.frames) >= sendBytes {
			send = b.takeFrames()
		}
	}
	b.mu.Unlock()
	if send != nil {
		b.dispatch(send)
	}
	return ref, nil
}

// takeFrames hands the framed chunks to a request; the caller holds mu.
func (b *remoteBatch) takeFrames() func() error {
	frames := b.frames
	b.frames = nil
	return func() error { return b.sendChunks(bytes.NewReader(frames)) }
}

// takeOffers hands the big chunks to a want request, then the wanted ones
// to a chunks request; the caller holds mu.
func (b *remoteBatch) takeOffers() func() error {
	offers := b.offers
	b.offers, b.offered = nil, 0
	return func() error {
		refs := make([]store.Ref, len(offers))
		for i, o := range offers {
			refs[i] = o.ref
		}
		ans, err := opWant.call(b.c.ctx, b.c, wantRequest{ID: b.id, Chunks: refs})
		if err != nil {
			return err
		}
		want := map[store.Ref]bool{}
		for _, r := range ans.Want {
			want[r] = true
		}
		// The wanted chunks go as they are, between their length
		// prefixes: copying 32 MiB into one slice cost the client 40%
		// of its CPU in an import of a 144 MB npm tree.
		var frames net.Buffers
		for _, o := range offers {
			if want[o.ref] {
				frames = append(frames, binary.AppendUvarint(nil, uint64(len(o.data))), o.data)
			}
		}
		if len(frames) == 0 {
			return nil
		}
		return b.sendChunks(&frames)
	}
}

func (b *remoteBatch) sendChunks(frames io.Reader) error {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, done, err := b.c.send(b.c.ctx, opChunks, importParam{ID: b.id}, frames, hdr)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	var ans chunksAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return b.c.bodyError(b.c.ctx, opChunks, err)
	}
	b.newBytes.Add(ans.NewBytes)
	return nil
}

// addObject counts a record into the pending objects request and returns
// the request to send when it is full; the caller holds mu.
func (b *remoteBatch) addObject() func() error {
	b.nobjs++
	if b.nobjs < objectsEach && len(b.objs) < objectBytes {
		return nil
	}
	return b.takeObjects()
}

func (b *remoteBatch) takeObjects() func() error {
	records := b.objs
	b.objs, b.nobjs = nil, 0
	return func() error {
		hdr := http.Header{"Content-Type": {RecordsType}}
		resp, done, err := b.c.send(b.c.ctx, opObjects.e, importParam{ID: b.id}, bytes.NewReader(records), hdr)
		if err != nil {
			return err
		}
		defer done()
		return resp.Body.Close()
	}
}

func (b *remoteBatch) PutFile(ref store.Ref, size uint64, srcMTime int64, chunks []store.Ref) error {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return err
	}
	b.objs = appendFileRecord(b.objs, ref, size, srcMTime, chunks)
	send := b.addObject()
	b.mu.Unlock()
	if send != nil {
		b.dispatch(send)
	}
	return nil
}

// WantChunks asks the daemon which of the chunks it lacks; those are then
// sent without being offered again.
func (b *remoteBatch) WantChunks(refs []store.Ref) ([]store.Ref, error) {
	if err := b.failed(); err != nil {
		return nil, err
	}
	var want []store.Ref
	for len(refs) > 0 {
		part := refs[:min(len(refs), maxBatch)]
		refs = refs[len(part):]
		ans, err := opWant.call(b.c.ctx, b.c, wantRequest{ID: b.id, Chunks: part})
		if err != nil {
			return nil, err
		}
		want = append(want, ans.Want...)
	}
	b.mu.Lock()
	for _, r := range want {
		b.wanted[r] = true
	}
	b.mu.Unlock()
	return want, nil
}

// PutTree returns the tree's hash at once; the daemon checks the tree
// when the request carrying it arrives.
func (b *remoteBatch) PutTree(t *store.Tree) (store.Ref, error) {
	data, err := store.EncodeTree(t)
	if err != nil {
		return store.Ref{}, fmt.Errorf("put tree: %v: %w", err, store.ErrInvalid)
	}
	ref := store.Sum(data)
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return ref, err
	}
	b.objs = appendTreeRecord(b.objs, data)
	send := b.addObject()
	b.mu.Unlock()
	if send != nil {
		b.dispatch(send)
	}
	return ref, nil
}

func (b *remoteBatch) PutStat(path string, e store.StatEntry) error {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return err
	}
	b.objs = appendStatRecord(b.objs, path, e)
	send := b.addObject()
	b.mu.Unlock()
	if send != nil {
		b.dispatch(send)
	}
	return nil
}

// Commit sends what is left, waits for every request, then asks the daemon
// to check the whole and record the snapshot.
func (b *remoteBatch) Commit(info store.SnapshotInfo) (store.SnapshotInfo, error) {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		b.Abort()
		return info, err
	}
	var sends []func() error
	if len(b.offers) > 0 {
		sends = append(sends, b.takeOffers())
	}
	if len(b.frames) > 0 {
		sends = append(sends, b.takeFrames())
	}
	if b.nobjs > 0 {
		sends = append(sends, b.takeObjects())
	}
	if len(b.vars) > 0 {
		sends = append(sends, b.takeVariants())
	}
	b.mu.Unlock()
	for _, s := range sends {
		b.dispatch(s)
	}
	b.wg.Wait()
	if err := b.failed(); err != nil {
		b.Abort()
		return info, err
	}
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	out, err := opCommit.call(b.c.ctx, b.c, commitRequest{Import: b.id, SnapshotInfo: info, NoCompress: b.noCompress})
	b.mu.Lock()
	b.vstats = out.Compressed
	b.mu.Unlock()
	if err != nil {
		return info, err
	}
	return out.SnapshotInfo, nil
}

// PutVariant sends a variant another node made (snapshot.VariantSink),
// in batches; the daemon checks each at commit by decompressing it. A
// daemon too old to take them makes its own at commit instead.
func (b *remoteBatch) PutVariant(content store.Ref, enc store.Encoding, rec *store.FileRecord) error {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return err
	}
	if b.noVariants {
		b.mu.Unlock()
		return nil
	}
	v := variantUpload{Content: content, Encoding: enc, None: rec == nil}
	if rec != nil {
		v.File = &fileUpload{Ref: rec.Ref, Size: rec.Size, MTime: rec.MTime, Chunks: rec.Chunks}
	}
	b.vars = append(b.vars, v)
	var send func() error
	if len(b.vars) >= objectsEach {
		send = b.takeVariants()
	}
	b.mu.Unlock()
	if send != nil {
		b.dispatch(send)
	}
	return nil
}

// takeVariants takes the variants not yet sent, under mu, and returns
// the request that sends them.
func (b *remoteBatch) takeVariants() func() error {
	vars := b.vars
	b.vars = nil
	return func() error {
		_, err := opVariants.call(b.c.ctx, b.c, variantsRequest{ID: b.id, Variants: vars})
		if isNoRoute(err) {
			b.mu.Lock()
			b.noVariants = true
			b.mu.Unlock()
			return nil
		}
		return err
	}
}

// isNoRoute tells the answer of a daemon that has no such endpoint (an
// older one) from any other not-found.
func isNoRoute(err error) bool {
	return KindOf(err).Err == store.ErrNotFound && strings.Contains(err.Error(), noSuchRoute)
}

// SetCompress asks the daemon to make no variants at commit (on false).
func (b *remoteBatch) SetCompress(on bool) {
	b.mu.Lock()
	b.noCompress = !on
	b.mu.Unlock()
}

// VariantStats is what the daemon's commit compressed.
func (b *remoteBatch) VariantStats() store.VariantStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.vstats
}

// abortWait bounds how long Abort waits to tell the daemon.
const abortWait = 5 * time.Second

// Abort ends the import. It tells the daemon even when the client's
// context has ended (Ctrl-C); if the daemon cannot be told, the import's
// lease ends it.
func (b *remoteBatch) Abort() {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	b.mu.Unlock()
	b.wg.Wait()
	detached := *b.c
	ctx, cancel := context.WithTimeout(context.Background(), abortWait)
	defer cancel()
	detached.ctx = ctx
	opAbort.call(ctx, &detached, importParam{ID: b.id})
}
