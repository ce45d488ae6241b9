package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshKey makes an ed25519 key with ssh-keygen and returns the private
// key's path and the public key's line.
func sshKey(t *testing.T, name string) (string, string) {
	t.Helper()
	need(t, "ssh-keygen")
	key := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	return key, strings.TrimSpace(string(pub))
}

// keygenSignature signs snapshot id's message with ssh-keygen -Y sign, as
// a signer without vfsctl would, and returns the signature file.
func keygenSignature(t *testing.T, key, id string) string {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-n", "vfs", "-f", key)
	cmd.Stdin = strings.NewReader("vfs-snapshot " + id + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v", err)
	}
	sig := filepath.Join(t.TempDir(), "sig")
	os.WriteFile(sig, out, 0o644)
	return sig
}

// vfsd with --allowed-signers serves only signed snapshots: an unsigned one
// is refused (activate, rollback and deploy) with kind unsigned and exit 7;
// one signed with ssh-keygen -Y sign is served and the log names who
// signed it; one signed by another key is refused; once the key is removed
// from the file and vfsd gets SIGHUP, a rollback to the release it signed
// is refused, the list marks it, and verify says so. The rotation follows
// docs/security.md: the new key is added first, then the old removed.
func TestSignedReleases(t *testing.T) {
	release, releasePub := sshKey(t, "release@ci")
	stranger, strangerPub := sshKey(t, "stranger")
	next, nextPub := sshKey(t, "release-2027@ci")
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	os.WriteFile(allowed, []byte("release@ci namespaces=\"vfs\" "+releasePub+"\n"), 0o644)
	d := startDaemon(t, "--allowed-signers", allowed, "--unsigned-refs", "preview-*")
	// rewrite replaces the file as an operator should (a new file renamed
	// over it: vfsd also re-reads it when it changes, and must never
	// read half of it), sends SIGHUP, and waits for vfsd to log want.
	rewrite := func(text, want string) {
		t.Helper()
		before := strings.Count(d.log.String(), want)
		tmp := allowed + ".new"
		os.WriteFile(tmp, []byte(text), 0o644)
		if err := os.Rename(tmp, allowed); err != nil {
			t.Fatal(err)
		}
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, d, want, before+1)
	}

	v1 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("<h1>v1</h1>")}))
	_, errb, err := d.try("activate", v1)
	if exitCode(err) != 7 || !strings.Contains(errb, "no signature") {
		t.Fatalf("activating an unsigned snapshot: exit %d, %s", exitCode(err), errb)
	}
	// A preview ref may serve it.
	d.ctl(t, "-q", "activate", v1, "--ref", "preview-branch")

	// Signed by ssh-keygen, attached with vfsctl: served, and the log
	// names the principal.
	d.ctl(t, "-q", "snapshot", "sign", v1, "--signature", keygenSignature(t, release, v1))
	d.ctl(t, "-q", "activate", v1, "--reason", "v1")
	var log []struct {
		To     string `json:"to"`
		Signer string `json:"signer"`
	}
	if err := json.Unmarshal([]byte(d.ctl(t, "--json", "log")), &log); err != nil {
		t.Fatal(err)
	}
	if last := log[len(log)-1]; last.To != v1 || last.Signer != "release@ci" {
		t.Errorf("the log's last entry: %+v, want v1 signed by release@ci", last)
	}

	// snapshot show --json lists the signature with its principal.
	var shown struct {
		Signatures []struct{ Principal, Key, Signature string } `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(d.ctl(t, "--json", "snapshot", "show", v1)), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Signatures) != 1 || shown.Signatures[0].Principal != "release@ci" || !strings.HasPrefix(shown.Signatures[0].Key, "SHA256:") ||
		!strings.Contains(shown.Signatures[0].Signature, "BEGIN SSH SIGNATURE") {
		t.Errorf("snapshot show --json: %+v", shown.Signatures)
	}

	// Signed by a key not in the file: refused.
	v2 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("<h1>v2</h1>")}))
	d.ctl(t, "-q", "snapshot", "sign", v2, "--key", stranger)
	if _, errb, err := d.try("activate", v2); exitCode(err) != 7 || !strings.Contains(errb, "is not an allowed signer") {
		t.Fatalf("a snapshot signed by another key: exit %d, %s", exitCode(err), errb)
	}
	// A bad signature is not attached at all.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"), 0o644)
	if _, errb, err := d.try("snapshot", "sign", v2, "--signature", bad); exitCode(err) != 6 {
		t.Errorf("attaching garbage: exit %d, %s", exitCode(err), errb)
	}
	// The rotation: the new key joins, deploy signs with it, the old key
	// leaves (SIGHUP).
	rewrite("release@ci namespaces=\"vfs\" "+releasePub+"\nrelease-2027@ci namespaces=\"vfs\" "+nextPub+"\n", "allowed signers re-read")
	// deploy --sign-key with the key in an ssh-agent (--sign-key KEY.pub).
	agentSock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", agentSock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Process.Kill(); agent.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(agentSock); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not start")
		}
	}
	add := exec.Command("ssh-add", next)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+agentSock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	cmd := exec.Command(filepath.Join(binDir, "vfsctl"), "--socket", d.sock, "--json", "deploy",
		writeSite(t, map[string][]byte{"index.html": []byte("<h1>v3</h1>")}), "--sign-key", next+".pub")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+agentSock)
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), `"principal": "release-2027@ci"`) {
		t.Errorf("deploy --sign-key KEY.pub with the key in ssh-agent: %v %s", err, out)
	}
	rewrite("release-2027@ci namespaces=\"vfs\" "+nextPub+"\n", "allowed signers re-read")
	// v1 relied only on the removed key: a rollback to it is refused.
	if _, errb, err := d.try("rollback"); exitCode(err) != 7 || !strings.Contains(errb, "is not an allowed signer") {
		t.Fatalf("a rollback to a release signed only by a removed key: exit %d, %s", exitCode(err), errb)
	}
	list := d.ctl(t, "snapshot", "list")
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(line, v1[:12]) && !strings.Contains(line, "no-valid") {
			t.Errorf("snapshot list does not mark v1: %q", line)
		}
	}
	// Served by preview-branch, v1 is allowed there; verify is clean.
	if _, errb, err := d.try("verify"); err != nil {
		t.Errorf("verify: %v %s", err, errb)
	}
	// A file that no longer parses leaves the keys as they were.
	rewrite("this is not a key\n", "allowed signers not re-read")
	if !strings.Contains(d.log.String(), "line 1") {
		t.Errorf("the log does not name the line:\n%s", d.log)
	}
	// With only another key allowed, what current serves is no longer
	// signed: verify says so (exit 7), and the mount still serves it
	// (nothing moves by itself).
	rewrite("stranger "+strangerPub+"\n", "allowed signers re-read")
	if out, errb, err := d.try("verify"); exitCode(err) != 7 || !strings.Contains(out, "UNSIGNED current serves") {
		t.Errorf("verify with current's key removed: exit %d\n%s%s", exitCode(err), out, errb)
	}
	if b, err := os.ReadFile(filepath.Join(d.mnt, "current", "index.html")); err != nil || string(b) != "<h1>v3</h1>" {
		t.Errorf("current serves %q %v", b, err)
	}
}

// waitLog waits until vfsd's log holds s at least n times.
func waitLog(t *testing.T, d *daemon, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(d.log.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("vfsd's log has %q %d times, want %d:\n%s", s, strings.Count(d.log.String(), s), n, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vfsd refuses to start with an allowed signers file it cannot read,
// naming the line.
func TestSignersFileWithAnError(t *testing.T) {
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	os.WriteFile(allowed, []byte("# keys\nalice ssh-ed25519\n"), 0o644)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "mnt"), 0o755)
	cmd := exec.Command(filepath.Join(binDir, "vfsd"), "--store", filepath.Join(dir, "store"), "--mount", filepath.Join(dir, "mnt"),
		"--socket", filepath.Join(dir, "s.sock"), "--allowed-signers", allowed)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "line 2") {
		t.Errorf("vfsd with a broken allowed signers file: %v\n%s", err, errb.String())
	}
}

// Asset carry-over comes only from snapshots the policy allows: once the
// key that signed an older release is removed, the next activation no
// longer carries that release's assets over, while those of a release a
// remaining key signed stay.
func TestCarryOverNeedsASignature(t *testing.T) {
	old, oldPub := sshKey(t, "old@ci")
	cur, curPub := sshKey(t, "current@ci")
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	os.WriteFile(allowed, []byte("old@ci "+oldPub+"\ncurrent@ci "+curPub+"\n"), 0o644)
	d := startDaemon(t, "--allowed-signers", allowed, "--grace", "10m")
	deploy := func(n int, key string) {
		t.Helper()
		site := writeSite(t, map[string][]byte{"index.html": []byte("<h1>" + strings.Repeat("v", n) + "</h1>"),
			"assets/app-" + fmt.Sprintf("%08x", 0x5e6f7a80+n) + ".js": []byte("asset of release " + strings.Repeat("v", n))})
		d.ctl(t, "-q", "deploy", site, "--sign-key", key)
	}
	asset := func(n int) string {
		return filepath.Join(d.mnt, "current", "assets", "app-"+fmt.Sprintf("%08x", 0x5e6f7a80+n)+".js")
	}
	deploy(1, old)
	deploy(2, cur)
	if _, err := os.Stat(asset(1)); err != nil {
		t.Fatalf("release 1's asset is not carried over while its key is allowed: %v", err)
	}
	before := strings.Count(d.log.String(), "allowed signers re-read")
	tmp := allowed + ".new"
	os.WriteFile(tmp, []byte("current@ci "+curPub+"\n"), 0o644)
	os.Rename(tmp, allowed)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "allowed signers re-read", before+1)
	deploy(3, cur)
	if _, err := os.Stat(asset(1)); err == nil {
		t.Error("release 1's asset is carried over after its key was removed")
	}
	if _, err := os.Stat(asset(2)); err != nil {
		t.Errorf("release 2's asset is not carried over: %v", err)
	}
}

// SIGHUP never stops vfsd, with or without --allowed-signers.
func TestSIGHUPWithoutSigners(t *testing.T) {
	d := startDaemon(t)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "nothing to re-read", 1)
	d.ctl(t, "status")
}
