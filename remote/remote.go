// Package remote reaches a vfsd on another machine over SSH, in the
// manner of Docker's DOCKER_HOST=ssh://: vfsctl runs the system ssh (so
// ~/.ssh/config, agents and known_hosts work), which runs `vfsctl
// dial-stdio` on the far side, a bridge between its standard input and
// output and vfsd's control socket. Every connection the API client opens
// is one such ssh process; vfsd sees the SSH user's uid on its socket, so
// its rules (vfsd --access) apply to who logged in.
//
// Words: a host is the ssh://[user@]host[:port] vfsctl was given; the
// bridge is dial-stdio; the banner is the one line the bridge writes
// before anything else, which says its protocol, whether it reached vfsd,
// and its version, so that a missing or older vfsctl on the far side, or
// a vfsd it cannot reach, is told apart from a failed ssh.
package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Protocol is the bridge's protocol version, the banner's second word.
const Protocol = "1"

// bannerWord opens the banner.
const bannerWord = "vfs-dial-stdio"

// Host is where a remote vfsd is reached.
type Host struct {
	User string
	Host string
	Port int // 0: ssh's default (or ~/.ssh/config's)
}

// String is the host as given: ssh://[user@]host[:port].
func (h Host) String() string {
	s := "ssh://"
	if h.User != "" {
		s += h.User + "@"
	}
	s += h.Host
	if h.Port != 0 {
		s += ":" + strconv.Itoa(h.Port)
	}
	return s
}

// ErrHost: the host string is not one vfsctl can reach.
var ErrHost = errors.New("unsupported host")

// ParseHost reads ssh://[user@]host[:port]; anything else is refused
// saying what is supported.
func ParseHost(s string) (Host, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "ssh" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return Host{}, fmt.Errorf("host %q: only ssh://[user@]host[:port] is supported (vfsctl then runs `vfsctl dial-stdio` on that host over ssh); for a local vfsd use --socket: %w", s, ErrHost)
	}
	if _, set := u.User.Password(); set {
		return Host{}, fmt.Errorf("host %q: no password in the URL; ssh asks for one, or use a key or an agent: %w", s, ErrHost)
	}
	h := Host{User: u.User.Username(), Host: u.Hostname()}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Host{}, fmt.Errorf("host %q: port %q: %w", s, p, ErrHost)
		}
		h.Port = n
	}
	if strings.HasPrefix(h.Host, "-") || strings.HasPrefix(h.User, "-") {
		return Host{}, fmt.Errorf("host %q: a name may not start with '-': %w", s, ErrHost)
	}
	return h, nil
}

// Command is the command line that reaches h: sshCommand (VFS_SSH_COMMAND,
// split on spaces; "ssh" when empty) with the port, the destination and
// the bridge with its socket ("" for the far side's default).
func (h Host) Command(sshCommand, socket string) []string {
	argv := strings.Fields(sshCommand)
	if len(argv) == 0 {
		argv = []string{"ssh"}
	}
	if h.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(h.Port))
	}
	dest := h.Host
	if h.User != "" {
		dest = h.User + "@" + h.Host
	}
	// "--" ends ssh's options; the remote command is one word each, and
	// the socket path is quoted for the far side's shell.
	argv = append(argv, "--", dest, "vfsctl", "dial-stdio")
	if socket != "" {
		argv = append(argv, "--socket", shellQuote(socket))
	}
	return argv
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Error is a failure to reach vfsd through a host, saying which side
// failed: "ssh", "remote vfsctl" or "vfsd".
type Error struct {
	Host  Host
	Side  string
	Msg   string
	Cause error // the kind's sentinel on the vfsd side, if known
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Host, e.Side, e.Msg) }
func (e *Error) Unwrap() error { return e.Cause }

// bannerTimeout bounds ssh's connection, login and the bridge's banner.
const bannerTimeout = 30 * time.Second

// Dial runs argv (Host.Command) and returns a connection over its standard
// input and output once the bridge's banner said it reached vfsd. kinds
// maps the banner's error kinds to sentinels (ctl's table).
func Dial(ctx context.Context, h Host, argv []string, kinds func(string) error) (net.Conn, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	stderr := &tail{max: 4096}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, &Error{Host: h, Side: "ssh", Msg: fmt.Sprintf("cannot run %s: %v (set VFS_SSH_COMMAND, or install OpenSSH's client)", argv[0], err)}
	}
	inR.Close()
	outW.Close()
	c := &conn{cmd: cmd, r: outR, w: inW, stderr: stderr, done: make(chan struct{})}
	go func() { c.werr = cmd.Wait(); close(c.done) }()
	line, err := c.banner(ctx)
	if err != nil {
		c.Close()
		return nil, c.explain(h, err)
	}
	fields := strings.SplitN(line, " ", 4)
	switch {
	case len(fields) < 3 || fields[0] != bannerWord:
		c.Close()
		return nil, &Error{Host: h, Side: "remote vfsctl", Msg: fmt.Sprintf("answered %q, not the bridge's banner (is vfsctl on that host's PATH vfs's?)", line)}
	case fields[1] != Protocol:
		c.Close()
		return nil, &Error{Host: h, Side: "remote vfsctl", Msg: fmt.Sprintf("speaks bridge protocol %s, this vfsctl %s: install the same vfs release on both sides", fields[1], Protocol)}
	case fields[2] == "ok":
		return c, nil
	case fields[2] == "error" && len(fields) == 4:
		c.Close()
		kind, msg, _ := strings.Cut(fields[3], " ")
		return nil, &Error{Host: h, Side: "vfsd", Msg: msg, Cause: kinds(kind)}
	}
	c.Close()
	return nil, &Error{Host: h, Side: "remote vfsctl", Msg: fmt.Sprintf("a banner this vfsctl does not read: %q", line)}
}

// Banner is the bridge's first line: ok with its version, or the error
// that kept it from vfsd, with its kind.
func Banner(version string, kind string, err error) string {
	if err != nil {
		return fmt.Sprintf("%s %s error %s %s\n", bannerWord, Protocol, kind, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return fmt.Sprintf("%s %s ok %s\n", bannerWord, Protocol, version)
}

// conn is a net.Conn over the standard input and output of an ssh
// process.
type conn struct {
	cmd    *exec.Cmd
	r      *os.File // its standard output
	br     *bufio.Reader
	w      *os.File // its standard input
	stderr *tail
	done   chan struct{}
	werr   error
	once   sync.Once
}

// banner reads the first line, within bannerTimeout and ctx.
func (c *conn) banner(ctx context.Context) (string, error) {
	deadline := time.Now().Add(bannerTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.r.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.r.SetReadDeadline(time.Now()) })
	defer stop()
	c.br = bufio.NewReaderSize(c.r, 4096)
	line, err := c.br.ReadString('\n')
	c.r.SetReadDeadline(time.Time{})
	if err != nil {
		if len(line) >= 4096 {
			return "", fmt.Errorf("a first line longer than 4 KiB")
		}
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// explain says why no banner came: ssh failed (exit 255), the far side
// has no vfsctl (127) or one without dial-stdio (an older one), or it
// took too long.
func (c *conn) explain(h Host, err error) error {
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	last := c.stderr.last()
	code := -1
	var ee *exec.ExitError
	if errors.As(c.werr, &ee) {
		code = ee.ExitCode()
	}
	switch {
	case code == 255:
		return &Error{Host: h, Side: "ssh", Msg: orDefault(last, "ssh failed (exit 255)")}
	case code == 127 || strings.Contains(last, "command not found") || strings.Contains(last, "No such file"):
		return &Error{Host: h, Side: "remote vfsctl", Msg: "no vfsctl on that host's PATH: install vfs there (" + orDefault(last, "exit 127") + ")"}
	case strings.Contains(last, "dial-stdio") || code == 2:
		return &Error{Host: h, Side: "remote vfsctl", Msg: "its vfsctl has no dial-stdio: it is older than this one; install the same vfs release there (" + orDefault(last, "exit 2") + ")"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &Error{Host: h, Side: "ssh", Msg: fmt.Sprintf("no answer within %s (%s)", bannerTimeout, orDefault(last, "no message"))}
	}
	return &Error{Host: h, Side: "ssh", Msg: orDefault(last, fmt.Sprintf("the connection ended before the bridge answered: %v", err))}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (c *conn) Read(p []byte) (int, error)  { return c.br.Read(p) }
func (c *conn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Close ends the ssh process: its standard input closes (the bridge then
// closes its side), and if it has not exited within a second it is
// killed.
func (c *conn) Close() error {
	c.once.Do(func() {
		c.w.Close()
		select {
		case <-c.done:
		case <-time.After(time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		c.r.Close()
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return addr("vfsctl") }
func (c *conn) RemoteAddr() net.Addr { return addr("ssh") }
func (c *conn) SetDeadline(t time.Time) error {
	c.r.SetReadDeadline(t)
	return c.w.SetWriteDeadline(t)
}
func (c *conn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

type addr string

func (a addr) Network() string { return "ssh" }
func (a addr) String() string  { return string(a) }

// tail keeps the last max bytes written to it (ssh's standard error).
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// last is its last non-empty line.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimSpace(t.b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// Bridge copies between the bridge's standard input and output and conn
// (vfsd's socket) until either side ends.
func Bridge(in io.Reader, out io.Writer, conn net.Conn) error {
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, in)
		if uc, ok := conn.(interface{ CloseWrite() error }); ok {
			uc.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(out, conn)
		errc <- err
	}()
	// The response side ending ends the bridge: vfsd closed.
	err := <-errc
	conn.Close()
	return err
}
