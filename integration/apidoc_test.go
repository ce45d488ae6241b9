package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// example is one command of docs/api.md and the output it documents.
type example struct {
	cmd, want string
}

// apiExamples reads the console blocks of docs/api.md: "$ " starts a
// command (a line ending in an open quote or a backslash goes on), the
// lines up to the next command are its output.
func apiExamples(t *testing.T) [][]example {
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]example
	var cur []example
	in, open := false, false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !in && line == "```console":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, cur)
		case !in:
		case open:
			cur[len(cur)-1].cmd += "\n" + line
			open = strings.Count(cur[len(cur)-1].cmd, "'")%2 == 1 || strings.HasSuffix(line, "\\")
		case strings.HasPrefix(line, "$ "):
			cur = append(cur, example{cmd: line[2:]})
			open = strings.Count(line, "'")%2 == 1 || strings.HasSuffix(line, "\\")
		default:
			cur[len(cur)-1].want += line + "\n"
		}
	}
	return blocks
}

// pattern turns documented output into a regular expression: "…" alone on
// a line stands for any lines, "…" within a line for any text.
func pattern(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, line := range strings.SplitAfter(want, "\n") {
		if line == "" {
			continue
		}
		if line == "…\n" {
			b.WriteString(`(?:.*\n)*?`)
			continue
		}
		parts := strings.Split(line, "…")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(".*?")
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Every command in docs/api.md runs against a real vfsd, in order, and
// prints what the document says.
func TestAPIDocExamples(t *testing.T) {
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed (apt-get install "+tool+")")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer := l.Addr().String()
	l.Close()
	d := startDaemon(t, "--peer-listen", peer)
	d.ctl(t, "-q", "snapshot", "import", "../docs/example-site", "--label", "example")
	blocks := apiExamples(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d example blocks in docs/api.md", len(blocks))
	}
	for bi, block := range blocks {
		// One shell per block, so that a variable set by one command is
		// there for the next; a marker line separates the outputs.
		var script strings.Builder
		for i, ex := range block {
			fmt.Fprintf(&script, "echo '@@@ %d'\n%s\n", i, ex.cmd)
		}
		cmd := exec.Command("bash", "-c", script.String())
		cmd.Env = append(os.Environ(), "VFS_SOCKET="+d.sock, "VFS_PEER="+peer)
		cmd.Dir = filepath.Dir(d.sock)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("block %d: %v\n%s", bi, err, out)
		}
		outs := regexp.MustCompile(`(?m)^@@@ \d+\n`).Split(string(out), -1)[1:]
		if len(outs) != len(block) {
			t.Fatalf("block %d: %d outputs for %d commands:\n%s", bi, len(outs), len(block), out)
		}
		for i, ex := range block {
			if !pattern(ex.want).MatchString(outs[i]) {
				t.Errorf("docs/api.md: $ %s\nprinted:\n%s\ndocumented:\n%s", ex.cmd, outs[i], ex.want)
			}
		}
	}
}
