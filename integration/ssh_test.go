package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The deploy user and the socket's group of the SSH tests: made on first
// use (useradd), and left for the next run.
const (
	deployUser  = "vfsdeploy"
	deployGroup = "vfsci"
)

// ensureDeployUser makes the group and an unprivileged user in it that
// sshd accepts with a key (a user made by useradd is locked: usermod -p
// '*' unlocks it for keys with UsePAM no).
func ensureDeployUser(t *testing.T) {
	t.Helper()
	if exec.Command("getent", "group", deployGroup).Run() != nil {
		sh(t, nil, "groupadd", deployGroup)
	}
	if exec.Command("id", deployUser).Run() != nil {
		sh(t, nil, "useradd", "-M", "-s", "/bin/sh", "-G", deployGroup, deployUser)
	}
	sh(t, nil, "usermod", "-p", "*", "-G", deployGroup, deployUser)
}

// sshd is Debian's sshd on a loopback port, with its own host key and
// config, and authorized keys written by the test.
type sshd struct {
	dir, port string
	keys      string // AuthorizedKeysFile's directory
	log       *syncBuffer
}

func startSSHD(t *testing.T) *sshd {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		missing(t, "no /usr/sbin/sshd (apt-get install openssh-server)")
	}
	dir := publicTempDir(t)
	s := &sshd{dir: dir, keys: filepath.Join(dir, "keys"), log: &syncBuffer{}}
	os.Mkdir(s.keys, 0o755)
	os.MkdirAll("/run/sshd", 0o755) // privilege separation
	sh(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	addr := freeAddr(t)
	_, s.port, _ = strings.Cut(addr, ":")
	config := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/%%u
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
StrictModes no
LogLevel VERBOSE
`, s.port, dir, dir, s.keys)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(config), 0o644)
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.log.String(), "Server listening") {
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start:\n%s", s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// key makes a client key and authorizes it for user with options (such
// as restrict,command="..."); it returns the private key's path.
func (s *sshd) key(t *testing.T, user, options string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id")
	sh(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path)
	pub, _ := os.ReadFile(path + ".pub")
	line := strings.TrimSpace(string(pub))
	if options != "" {
		line = options + " " + line
	}
	f, err := os.OpenFile(filepath.Join(s.keys, user), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, line)
	f.Close()
	return path
}

// remoteCtl runs vfsctl --host against the sshd with key, and ssh's
// log (ssh -v) in sshLog when set.
func (s *sshd) remoteCtl(key, sshLog string, stdin []byte, args ...string) (string, string, error) {
	ssh := "ssh -i " + key + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
	if sshLog != "" {
		ssh = "ssh -v -E " + sshLog + " -i " + key + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes"
	}
	cmd := exec.Command(filepath.Join(binDir, "vfsctl"), append([]string{"--host", "ssh://" + deployUser + "@127.0.0.1:" + s.port}, args...)...)
	cmd.Env = append(os.Environ(), "VFS_SSH_COMMAND="+ssh)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// sentOverSSH sums ssh -v's "Transferred: sent N" lines in log.
func sentOverSSH(t *testing.T, log string) (sent int64, sessions int) {
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`Transferred: sent (\d+), received (\d+) bytes`).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		sent += n
		sessions++
	}
	return sent, sessions
}

// Deploys from CI over SSH, scoped per user: a real sshd, an unprivileged
// user whose key may only run `vfsctl dial-stdio`, and vfsd --access that
// lets that user deploy staging and preview-* and nothing else.
func TestDeployOverSSH(t *testing.T) {
	ensureDeployUser(t)
	access := filepath.Join(publicTempDir(t), "access")
	os.WriteFile(access, []byte("# CI deploys previews and staging\nuser:"+deployUser+" deploy staging preview-*\n"), 0o644)
	d := startDaemon(t, "--socket-group", deployGroup, "--access", access)
	s := startSSHD(t)
	key := s.key(t, deployUser, fmt.Sprintf(`restrict,command="%s/vfsctl dial-stdio --socket %s"`, binDir, d.sock))

	big := make([]byte, 3<<20)
	rand.Read(big)
	site := writeSite(t, map[string][]byte{"index.html": []byte("<h1>one</h1>"), "assets/big-0123abcd.bin": big})
	out, stderr, err := s.remoteCtl(key, "", nil, "deploy", site, "--ref", "staging", "--reason", "from CI")
	if err != nil {
		t.Fatalf("deploy over ssh: %v\n%s\n%s\nsshd:\n%s", err, out, stderr, s.log)
	}
	id := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if st := d.ctl(t, "--json", "status"); !strings.Contains(st, `"staging": "`+id+`"`) {
		t.Errorf("after the deploy, vfsd's refs: %s", st)
	}
	if log := d.ctl(t, "log"); !strings.Contains(log, deployUser) || !strings.Contains(log, "from CI") {
		t.Errorf("the activation log does not name the user:\n%s", log)
	}

	// The same user on current: refused, naming the rule that would
	// allow it.
	_, stderr, err = s.remoteCtl(key, "", nil, "activate", id, "--ref", "current")
	if code := exitCode(err); code != 1 || !strings.Contains(stderr, "user:"+deployUser+" deploy current") || !strings.Contains(stderr, "line 2") {
		t.Errorf("deploy to current: exit %d: %s", code, stderr)
	}
	_, stderr, err = s.remoteCtl(key, "", nil, "gc")
	if exitCode(err) != 1 || !strings.Contains(stderr, "needs role admin") {
		t.Errorf("gc by a deployer: %v %s", err, stderr)
	}

	// A second deploy that changes one page beside the 3 MiB asset sends
	// little over ssh: only what the store lacks.
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>two</h1>"), 0o644)
	sshLog := filepath.Join(t.TempDir(), "ssh.log")
	if out, stderr, err := s.remoteCtl(key, sshLog, nil, "deploy", site, "--ref", "preview-2"); err != nil {
		t.Fatalf("second deploy: %v\n%s\n%s", err, out, stderr)
	}
	sent, sessions := sentOverSSH(t, sshLog)
	t.Logf("a deploy that changes one page beside a 3 MiB asset sent %d bytes over %d ssh sessions", sent, sessions)
	if sessions == 0 || sent > 400<<10 {
		t.Errorf("the second deploy sent %d bytes over ssh in %d sessions, want under 400 KiB", sent, sessions)
	}

	// A tar on standard input.
	tarball, err := exec.Command("tar", "-C", site, "-cz", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := s.remoteCtl(key, "", tarball, "deploy", "-", "--ref", "preview-tar"); err != nil || !strings.Contains(stderr, "standard input") {
		t.Errorf("a tar on stdin: %v\n%s\n%s", err, out, stderr)
	}
	if _, stderr, err := s.remoteCtl(key, "", []byte("not a tar"), "snapshot", "import", "-"); exitCode(err) != 6 {
		t.Errorf("garbage on stdin: %v %s", err, stderr)
	}

	// What goes wrong says which side: a host that is not ssh://, a key
	// ssh refuses, a host without vfsctl on the user's PATH.
	cmd := exec.Command(filepath.Join(binDir, "vfsctl"), "--host", "web1", "status")
	if b, err := cmd.CombinedOutput(); exitCode(err) != 2 || !strings.Contains(string(b), "only ssh://") {
		t.Errorf("--host web1: %v %s", err, b)
	}
	stranger := filepath.Join(t.TempDir(), "id")
	sh(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger)
	if _, stderr, err := s.remoteCtl(stranger, "", nil, "status"); err == nil || !strings.Contains(stderr, ": ssh: ") || !strings.Contains(stderr, "Permission denied") {
		t.Errorf("a refused key: %v %s", err, stderr)
	}
	plain := s.key(t, deployUser, "restrict")
	if _, stderr, err := s.remoteCtl(plain, "", nil, "status"); err == nil || !strings.Contains(stderr, "no vfsctl on that host's PATH") {
		t.Errorf("no vfsctl on the far side: %v %s", err, stderr)
	}
}
