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
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
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

	// Many small files: the client's parallel requests each get an ssh
	// session of their own (logged, beside the same import through the
	// socket; the figures are in docs/benchmarks.md).
	sites := [2]string{}
	for k, how := range []string{"ssh", "socket"} { // the same shape, other bytes: each sends all
		many := map[string][]byte{}
		for i := range 2000 {
			many[fmt.Sprintf("p/%02d/page-%04d.html", i%50, i)] = []byte(fmt.Sprintf("<p>page %d, sent over %s</p>", i, how))
		}
		sites[k] = writeSite(t, many)
	}
	manyOver, manyLocal := sites[0], sites[1]
	manyLog := filepath.Join(t.TempDir(), "ssh.log")
	start := time.Now()
	if _, stderr, err := s.remoteCtl(key, manyLog, nil, "-q", "snapshot", "import", manyOver); err != nil {
		t.Fatalf("2,000 files over ssh: %v %s", err, stderr)
	}
	overSSH := time.Since(start)
	start = time.Now()
	d.ctl(t, "-q", "snapshot", "import", manyLocal)
	local := time.Since(start)
	_, sessions = sentOverSSH(t, manyLog)
	t.Logf("2,000 small files: over ssh %s in %d ssh sessions, through the socket %s (%.1fx)", overSSH.Round(time.Millisecond), sessions,
		local.Round(time.Millisecond), float64(overSSH)/float64(local))

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
	// A vfsctl from before dial-stdio answers as cobra does.
	older := s.key(t, deployUser, `restrict,command="echo 'Error: unknown command \"dial-stdio\" for \"vfsctl\"' >&2; exit 2"`)
	if _, stderr, err := s.remoteCtl(older, "", nil, "status"); err == nil || !strings.Contains(stderr, "remote vfsctl: its vfsctl has no dial-stdio: it is older than this one") {
		t.Errorf("an older vfsctl on the far side: %v %s", err, stderr)
	}
	// vfsd not running there.
	nowhere := s.key(t, deployUser, fmt.Sprintf(`restrict,command="%s/vfsctl dial-stdio --socket /nonexistent/vfsd.sock"`, binDir))
	if _, stderr, err := s.remoteCtl(nowhere, "", nil, "status"); exitCode(err) != 1 || !strings.Contains(stderr, ": vfsd: no vfsd socket at /nonexistent/vfsd.sock") {
		t.Errorf("no vfsd on the far side: %v %s", err, stderr)
	}
}

// The CI examples in docs/examples parse, and their deploy command lines,
// run as CI would run them (sh -c, in a checkout with dist/ built), deploy
// over ssh to a three-node fleet: --cluster releases on every member, and
// every member's log names the build and the operator.
func TestDeployExamplesToAFleet(t *testing.T) {
	ensureDeployUser(t)
	access := filepath.Join(publicTempDir(t), "access")
	os.WriteFile(access, []byte("user:"+deployUser+" deploy current\n"), 0o644)
	etcd, _ := startEtcd(t)
	var nodes []*daemon
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", fmt.Sprintf("n%d", i), "--etcd", etcd, "--peer-listen", freeAddr(t),
			"--cluster-lease", "2s", "--socket-group", deployGroup, "--access", access))
	}
	s := startSSHD(t)
	key := s.key(t, deployUser, fmt.Sprintf(`restrict,command="%s/vfsctl dial-stdio --socket %s"`, binDir, nodes[0].sock))
	sshCommand := "ssh -i " + key + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"

	type example struct {
		file, command string
		env           map[string]string
	}
	var examples []example
	var gh struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string            `yaml:"name"`
				Run  string            `yaml:"run"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	readYAML(t, "../docs/examples/github-actions.yml", &gh)
	for _, step := range gh.Jobs["deploy"].Steps {
		if step.Name == "Deploy" {
			examples = append(examples, example{"github-actions.yml", step.Run, step.Env})
		}
	}
	var gl struct {
		Deploy struct {
			Variables map[string]string `yaml:"variables"`
			Script    []string          `yaml:"script"`
		} `yaml:"deploy"`
	}
	readYAML(t, "../docs/examples/gitlab-ci.yml", &gl)
	if job := gl.Deploy; len(job.Script) > 0 {
		examples = append(examples, example{"gitlab-ci.yml", job.Script[len(job.Script)-1], job.Variables})
	}
	if len(examples) != 2 {
		t.Fatalf("the deploy steps of the examples: %+v", examples)
	}
	for i, ex := range examples {
		if !strings.HasPrefix(ex.command, "vfsctl deploy ./dist --cluster") || !strings.HasPrefix(ex.env["VFS_HOST"], "ssh://deploy@") || ex.env["VFS_SSH_COMMAND"] == "" {
			t.Errorf("%s: the deploy step changed shape: %q %v", ex.file, ex.command, ex.env)
		}
		checkout := t.TempDir()
		page := fmt.Sprintf("<h1>release %d</h1>", i)
		os.MkdirAll(filepath.Join(checkout, "dist"), 0o755)
		os.WriteFile(filepath.Join(checkout, "dist", "index.html"), []byte(page), 0o644)
		cmd := exec.Command("sh", "-c", ex.command)
		cmd.Dir = checkout
		cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"),
			// The example's host and key, made this test's.
			"VFS_HOST=ssh://"+deployUser+"@127.0.0.1:"+s.port, "VFS_SSH_COMMAND="+sshCommand,
			"GITHUB_SHA=0123abc", "GITHUB_ACTOR=octocat", "CI_COMMIT_SHORT_SHA=0123abc", "GITLAB_USER_LOGIN=octocat")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s's deploy: %v\n%s", ex.file, err, out)
		}
		for j, n := range nodes {
			if b, err := os.ReadFile(filepath.Join(n.mnt, "current", "index.html")); err != nil || string(b) != page {
				t.Errorf("after %s, n%d serves %q %v", ex.file, j+1, b, err)
			}
		}
		if log := nodes[2].ctl(t, "log", "-n", "1"); !strings.Contains(log, "0123abc by octocat") || !strings.Contains(log, deployUser) {
			t.Errorf("n3's log after %s:\n%s", ex.file, log)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// A deploy whose connection drops mid-import, run again, sends only what
// the store still lacks: what the first run sent is stored in batches as
// it arrives (kept until gc, or the commit that names it).
func TestDeployOverSSHResumes(t *testing.T) {
	ensureDeployUser(t)
	d := startDaemon(t, "--socket-group", deployGroup)
	s := startSSHD(t)
	key := s.key(t, deployUser, fmt.Sprintf(`restrict,command="%s/vfsctl dial-stdio --socket %s"`, binDir, d.sock))
	files := map[string][]byte{"index.html": []byte("<h1>big</h1>")}
	const total = 48 << 20
	for i := range 48 {
		b := make([]byte, 1<<20)
		rand.Read(b)
		files[fmt.Sprintf("media/clip-%02d.bin", i)] = b
	}
	site := writeSite(t, files)
	storeSize := func() int64 {
		var n int64
		filepath.Walk(d.store, func(_ string, fi os.FileInfo, err error) error {
			if st, ok := fi.Sys().(*syscall.Stat_t); err == nil && !fi.IsDir() && ok {
				n += st.Blocks * 512 // Badger's files are preallocated: what is written, not their size
			}
			return nil
		})
		return n
	}
	before := storeSize()
	ssh := "ssh -i " + key + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
	cmd := exec.Command(filepath.Join(binDir, "vfsctl"), "--host", "ssh://"+deployUser+"@127.0.0.1:"+s.port, "deploy", site)
	cmd.Env = append(os.Environ(), "VFS_SSH_COMMAND="+ssh)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Drop the connection (vfsctl and its ssh processes) once more than
	// a third has arrived.
	deadline := time.Now().Add(2 * time.Minute)
	for storeSize()-before < total/3 {
		if time.Now().After(deadline) {
			t.Fatal("the first deploy never got a third of the way")
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	arrived := storeSize() - before
	sshLog := filepath.Join(t.TempDir(), "ssh.log")
	if out, stderr, err := s.remoteCtl(key, sshLog, nil, "deploy", site); err != nil {
		t.Fatalf("the deploy run again: %v\n%s\n%s", err, out, stderr)
	}
	sent, _ := sentOverSSH(t, sshLog)
	t.Logf("a %d MiB deploy dropped after %d MiB reached the store; run again, it sent %d MiB", total>>20, arrived>>20, sent>>20)
	if sent > total-total/4 {
		t.Errorf("run again, the deploy sent %d of %d bytes: what the first run stored was sent again", sent, total)
	}
	if b, err := os.ReadFile(filepath.Join(d.mnt, "current", "index.html")); err != nil || string(b) != "<h1>big</h1>" {
		t.Errorf("after the second run: %q %v", b, err)
	}
}
