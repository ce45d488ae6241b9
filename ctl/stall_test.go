package ctl_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
)

// stallDaemon serves a fresh store with short body and lease bounds.
func stallDaemon(t *testing.T, lease, idle, whole time.Duration) string {
	t.Helper()
	_, sock, _ := daemonWith(t, func(l *ctl.Local) { l.ImportLease = lease }, func(s *ctl.Server) { s.BodyIdle, s.JSONBodyTime = idle, whole })
	return sock
}

// sendPart writes a request whose body is announced whole but sent in
// part, one piece every gap, and returns the answer's status line and how
// long it took.
func sendPart(t *testing.T, sock, method, path string, length int, pieces []string, gap time.Duration) (string, time.Duration) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: vfs\r\nContent-Length: "+strconv.Itoa(length)+"\r\n\r\n")
	go func() {
		for _, p := range pieces {
			if _, err := io.WriteString(c, p); err != nil {
				return
			}
			time.Sleep(gap)
		}
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), time.Since(start)
}

// A chunks upload that stops mid-body loses its import within the lease
// (plus a little), not after the request's twelve hours, and the request
// itself ends at the body's idle timeout as a timeout. A JSON body
// trickled a byte at a time ends when it is not whole in time.
func TestStalledBodiesEnd(t *testing.T) {
	sock := stallDaemon(t, 500*time.Millisecond, 2*time.Second, time.Second)
	r := rawClient(t, sock)
	var imp ctl.ImportStarted
	r.ok("POST", "/v1/imports", nil, &imp)
	half := string(frames([]byte("0123456789"))[:6])
	done := make(chan string, 1)
	var took time.Duration
	go func() {
		var line string
		line, took = sendPart(t, sock, "POST", "/v1/imports/"+imp.ID+"/chunks", 11, []string{half}, 0)
		done <- line
	}()
	time.Sleep(time.Second) // the lease (0.5 s) runs out meanwhile
	status, out := r.do("POST", "/v1/imports/"+imp.ID+"/chunks", frames([]byte("more")))
	if status != http.StatusGone || !strings.Contains(string(out), "--import-lease") {
		t.Errorf("the stalled import is still open after its lease: %d %s", status, out)
	}
	if line := <-done; !strings.Contains(line, "504") || took > 10*time.Second {
		t.Errorf("the stalled request answered %q after %s", line, took)
	}
	// A byte every 300 ms keeps the idle timeout at bay, not the bound
	// on a JSON body's whole.
	pieces := strings.Split(`{"ids": []}`, "")
	line, took := sendPart(t, sock, "POST", "/v1/verify", len(`{"ids": []}`)+100, pieces, 300*time.Millisecond)
	if !strings.Contains(line, "504") || took > 10*time.Second {
		t.Errorf("a trickled JSON body answered %q after %s", line, took)
	}
}
