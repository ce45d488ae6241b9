package ctl

import (
	"bufio"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vfs-project/vfs/store"
)

// An endpoint is one operation of the API. The table in endpoints.go is
// the one definition of each: the server's routes, the client's requests
// and the reference in docs/api.md are all made from it.
//
// A request type's fields tagged path:"x" fill the route's {x}, fields
// tagged query:"x" the query string; the other fields are the JSON body.
type endpoint struct {
	Name   string // what it does, for docs/api.md
	Method string
	Path   string // a net/http pattern's path: {x} is a parameter
	Doc    string
	// Req and Resp are the JSON request and response types (nil: none);
	// ReqBody and RespBody describe a body that is not JSON.
	Req, Resp         reflect.Type
	ReqBody, RespBody string
	// Progress, when set, makes the response a stream of events
	// (application/x-ndjson): {"progress": Progress}... then
	// {"result": Resp} or {"error": {...}}.
	Progress reflect.Type
	// Timeout is the longest the daemon works on one request.
	Timeout time.Duration
	// Peer: also served on the peer listener, which has no credentials.
	Peer bool

	handle func(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error
}

// Timeouts of the two sorts of work.
const (
	quick = time.Minute
	long  = 12 * time.Hour
)

var endpoints []*endpoint

func register(e *endpoint) *endpoint {
	endpoints = append(endpoints, e)
	return e
}

func typeOf[T any]() reflect.Type {
	t := reflect.TypeFor[T]()
	if t == reflect.TypeFor[none]() {
		return nil
	}
	return t
}

// none is the request or response of an operation that has none; it is
// sent as {}.
type none struct{}

// op is a JSON operation.
type op[Req, Resp any] struct{ e *endpoint }

func jsonOp[Req, Resp any](e endpoint, f func(ctx context.Context, s *session, req Req) (Resp, error)) op[Req, Resp] {
	e.Req, e.Resp = typeOf[Req](), typeOf[Resp]()
	e.handle = func(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
		var req Req
		if err := decodeRequest(r, &req); err != nil {
			return err
		}
		resp, err := f(ctx, s, req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	return op[Req, Resp]{register(&e)}
}

func (o op[Req, Resp]) call(ctx context.Context, c *Client, req Req) (Resp, error) {
	var resp Resp
	err := c.roundTrip(ctx, o.e, req, nil, &resp)
	return resp, err
}

// streamOp is an operation that reports progress while it works.
type streamOp[Req, Resp, Prog any] struct{ e *endpoint }

// progressEvery is how often a stream reports progress.
const progressEvery = 250 * time.Millisecond

func streamingOp[Req, Resp, Prog any](e endpoint, f func(ctx context.Context, s *session, req Req, progress func(Prog)) (Resp, error)) streamOp[Req, Resp, Prog] {
	e.Req, e.Resp, e.Progress = typeOf[Req](), typeOf[Resp](), reflect.TypeFor[Prog]()
	e.handle = func(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error {
		var req Req
		if err := decodeRequest(r, &req); err != nil {
			return err
		}
		st := &eventStream{w: w}
		resp, err := f(ctx, s, req, func(p Prog) { st.progress(p) })
		return st.end(resp, err)
	}
	return streamOp[Req, Resp, Prog]{register(&e)}
}

func (o streamOp[Req, Resp, Prog]) call(ctx context.Context, c *Client, req Req, progress func(Prog)) (Resp, error) {
	var resp Resp
	err := c.roundTrip(ctx, o.e, req, func(raw json.RawMessage) error {
		if progress == nil {
			return nil
		}
		var p Prog
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		progress(p)
		return nil
	}, &resp)
	return resp, err
}

// event is one line of a stream.
type event struct {
	Progress any       `json:"progress,omitempty"`
	Result   any       `json:"result,omitempty"`
	Error    *apiError `json:"error,omitempty"`
}

// eventStream writes a stream's lines. It starts the response at the
// first progress event worth sending, so that a request that fails at
// once gets an ordinary error response with its status.
type eventStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
	last    time.Time
}

func (s *eventStream) start() {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.WriteHeader(http.StatusOK)
	}
}

func (s *eventStream) write(e event) {
	s.start()
	b, _ := json.Marshal(e)
	s.w.Write(append(b, '\n'))
	http.NewResponseController(s.w).Flush()
}

func (s *eventStream) progress(p any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) < progressEvery {
		return
	}
	s.last = time.Now()
	s.write(event{Progress: p})
}

// end sends the result or the error; an error before the stream started
// goes back to the caller to answer as usual.
func (s *eventStream) end(resp any, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !s.started {
		return err
	}
	if err != nil {
		a := toAPIError(err)
		s.write(event{Error: &a})
		return nil
	}
	s.write(event{Result: resp})
	return nil
}

// rawOp is an operation whose request or response body is not JSON; its
// handler and client method are written out by hand.
func rawOp(e endpoint, req reflect.Type, handle func(ctx context.Context, s *session, w http.ResponseWriter, r *http.Request) error) *endpoint {
	e.Req, e.handle = req, handle
	return register(&e)
}

// maxJSON bounds a JSON or records request body: vfsctl sends at most
// 16 MiB of records, plus the one record that passes the mark.
const maxJSON = 32 << 20

// decodeSlots bounds the request bodies decoded at once, daemon-wide: a
// decoded body costs memory in proportion to its bytes (up to maxJSON,
// and about as much again decoded), so a client that opens many
// connections waits for a slot instead of multiplying that. A slot is
// held only while the body is read and decoded, which JSONBodyTime and
// BodyIdle bound.
var decodeSlots = make(chan struct{}, 4)

// decodeSlot takes a slot, or fails when the request ends first.
func decodeSlot(r *http.Request) (release func(), err error) {
	if r.Context().Value(slotFreeKey{}) != nil {
		return func() {}, nil
	}
	select {
	case decodeSlots <- struct{}{}:
		return func() { <-decodeSlots }, nil
	case <-r.Context().Done():
		return nil, fmt.Errorf("waiting to read the request body: %w", r.Context().Err())
	}
}

// decodeRequest fills req from r's body (JSON) and URL.
func decodeRequest(r *http.Request, req any) error {
	v := reflect.ValueOf(req).Elem()
	if v.Type() == reflect.TypeFor[none]() {
		return nil
	}
	if rb, ok := req.(interface{ readRecords(io.Reader) error }); ok && r.Header.Get("Content-Type") == RecordsType {
		release, err := decodeSlot(r)
		if err != nil {
			return err
		}
		err = rb.readRecords(r.Body)
		release()
		if err != nil {
			return bodyError(r, err)
		}
	} else if hasBody(v.Type()) {
		release, err := decodeSlot(r)
		if err != nil {
			return err
		}
		err = decodeJSON(r.Body, req)
		release()
		if err != nil {
			return bodyError(r, err)
		}
	}
	err := eachParam(v, func(f reflect.Value, where, name string) error {
		var s string
		var ok bool
		if where == "path" {
			s, ok = r.PathValue(name), true
		} else {
			var vals []string
			vals, ok = r.URL.Query()[name]
			if ok {
				s = vals[0]
			}
		}
		if !ok {
			return nil
		}
		if err := setParam(f, s); err != nil {
			return fmt.Errorf("parameter %s %q: %v: %w", name, s, err, store.ErrInvalid)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A request type with rules of its own (a required field) says so.
	if c, ok := req.(interface{ check() error }); ok {
		return c.check()
	}
	return nil
}

// decodeJSON reads one JSON object into req: an empty body leaves req
// as it is, and null, a value that is not an object, or anything after
// the object is refused (a second object was once silently ignored, and
// null decoded as an activation of the zero id).
func decodeJSON(body io.Reader, req any) error {
	br := bufio.NewReader(io.LimitReader(body, maxJSON))
	first, err := firstByte(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("request body: %v: %w", err, store.ErrInvalid)
	}
	if reflect.TypeOf(req).Elem().Kind() == reflect.Struct && first != '{' {
		return fmt.Errorf("request body: a JSON object, not one starting %q: %w", first, store.ErrInvalid)
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return fmt.Errorf("request body: %v: %w", err, store.ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("request body: data after the JSON value: %w", store.ErrInvalid)
	}
	return nil
}

// firstByte peeks at the first byte that is not JSON white space.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

// hasBody reports whether a request type has fields sent as JSON.
func hasBody(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return true
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && f.Tag.Get("json") != "-" {
			return true
		}
	}
	return false
}

// eachParam calls fn for each path or query field of the struct v.
func eachParam(v reflect.Value, fn func(f reflect.Value, where, name string) error) error {
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		for _, where := range []string{"path", "query"} {
			if name := sf.Tag.Get(where); name != "" {
				if err := fn(v.Field(i), where, name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func setParam(f reflect.Value, s string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported parameter type %s", f.Type())
	}
	return nil
}

func paramString(f reflect.Value) (string, error) {
	if m, ok := f.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		return string(b), err
	}
	switch f.Kind() {
	case reflect.String:
		return f.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(f.Bool()), nil
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(f.Int(), 10), nil
	}
	return "", fmt.Errorf("unsupported parameter type %s", f.Type())
}

// requestURL fills e's path and query from req.
func requestURL(e *endpoint, req any) (string, error) {
	p := e.Path
	q := url.Values{}
	if req != nil {
		err := eachParam(reflect.ValueOf(req), func(f reflect.Value, where, name string) error {
			s, err := paramString(f)
			if err != nil {
				return err
			}
			if where == "path" {
				if s == "" {
					return fmt.Errorf("%s %s: empty parameter %s: %w", e.Method, e.Path, name, store.ErrInvalid)
				}
				p = strings.Replace(p, "{"+name+"}", url.PathEscape(s), 1)
			} else if !f.IsZero() {
				q.Set(name, s)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p, nil
}

// writeJSON answers with v, indented so that curl users can read it.
func writeJSON(w http.ResponseWriter, status int, v any) {
	if v == nil || reflect.TypeOf(v) == reflect.TypeFor[none]() {
		v = struct{}{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(fmt.Sprintf(`{"kind":"error","message":%q}`, err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, KindOf(err).Status, toAPIError(err))
}
