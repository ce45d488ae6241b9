package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vfs-project/vfs/ctl"
)

// Text from etcd (reasons, an eviction's reason, a problem) reaches the
// operator's terminal quoted when it holds control characters, as
// vfsctl log quotes it: an escape sequence in etcd cannot repaint it.
func TestClusterStatusQuotesTextFromEtcd(t *testing.T) {
	evil := "release\x1b[2J\x1b[31m 42\nmember n9: ready"
	var out bytes.Buffer
	printClusterStatus(&env{stdout: &out}, ctl.ClusterStatus{Cluster: "web", Node: "n1",
		Committed: map[string]uint64{"current": 3},
		Refs:      map[string]ctl.ClusterRef{"current": {Reason: evil, Problem: evil}},
		Nodes:     map[string]ctl.ClusterMember{"n1": {Peer: "10.0.0.1:7007", Reason: evil}},
		Evicted:   map[string]ctl.Eviction{"n2": {By: "n1", Reason: evil}},
		Error:     evil})
	s := out.String()
	if strings.ContainsRune(s, '\x1b') || strings.Contains(s, "\nmember n9") {
		t.Errorf("raw control characters reached the terminal:\n%q", s)
	}
	if strings.Count(s, `"release\x1b[2J\x1b[31m 42\nmember n9: ready"`) != 5 {
		t.Errorf("each text is not quoted:\n%s", s)
	}
}
