package main

import (
	"fmt"
	"sort"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
)

func clusterStatusCommand(e *env) *command {
	return &command{
		name: "cluster status", nargs: [2]int{0, 0},
		summary: "show vfsd's cluster: each ref's release, and per member what it staged, applied and serves, and whether it is ready",
		run: func(e *env, _ []string) error {
			c, err := clusterClient(e, "cluster status")
			if err != nil {
				return err
			}
			s, err := c.ClusterStatus(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(s)
			}
			printClusterStatus(e, s)
			return nil
		},
	}
}

// clusterClient is the vfsd client a cluster command needs.
func clusterClient(e *env, name string) (*ctl.Client, error) {
	api, err := e.store()
	if err != nil {
		return nil, err
	}
	c, ok := api.(*ctl.Client)
	if !ok {
		return nil, usageError{name + ": talk to vfsd (--socket); a store opened directly is in no cluster"}
	}
	return c, nil
}

func clusterEvictCommand(e *env) *command {
	var reason string
	return &command{
		name: "cluster evict", args: "NODE", nargs: [2]int{1, 1}, noJSON: true,
		summary: "take a node out of vfsd's cluster until it is admitted again",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "why, shown by cluster status and in the node's log")
		},
		run: func(e *env, args []string) error {
			c, err := clusterClient(e, "cluster evict")
			if err != nil {
				return err
			}
			if err := c.ClusterEvict(e.ctx, args[0], reason); err != nil {
				return err
			}
			e.note("%s evicted: releases no longer wait for it; vfsctl cluster admit %s lets it back", args[0], args[0])
			return nil
		},
	}
}

func clusterAdmitCommand(e *env) *command {
	return &command{
		name: "cluster admit", args: "NODE", nargs: [2]int{1, 1}, noJSON: true,
		summary: "let an evicted node join vfsd's cluster again",
		run: func(e *env, args []string) error {
			c, err := clusterClient(e, "cluster admit")
			if err != nil {
				return err
			}
			if err := c.ClusterAdmit(e.ctx, args[0]); err != nil {
				return err
			}
			e.note("%s may join again; it catches up by itself", args[0])
			return nil
		},
	}
}

func clusterLogCommand(e *env) *command {
	return &command{
		name: "cluster log", args: "[REF]", nargs: [2]int{0, 1},
		summary: "show a ref's committed generations across vfsd's cluster, checked as a hash chain",
		run: func(e *env, args []string) error {
			c, err := clusterClient(e, "cluster log")
			if err != nil {
				return err
			}
			ref := snapshot.DefaultRef
			if len(args) == 1 {
				ref = args[0]
			}
			h, err := c.ClusterHistory(e.ctx, ref)
			if err != nil {
				return err
			}
			if e.json {
				if err := e.printJSON(h); err != nil {
					return err
				}
			} else {
				for _, x := range h.Entries {
					user := x.User
					if user == "" {
						user = fmt.Sprintf("uid %d", x.UID)
					}
					fmt.Fprintf(e.stdout, "%d  %s  %s -> %s  by %s on %s  %s\n", x.Gen, x.Time.Local().Format("2006-01-02 15:04:05"),
						shortOrNone(x.Prev), x.Snapshot.Short(), printable(user), x.Node, printable(x.Reason))
				}
			}
			if h.Problem != "" {
				fmt.Fprintf(e.stderr, "vfsctl: the history of %s is broken after %s: %s\n", ref, count(len(h.Entries), "entry", "entries"), h.Problem)
				return errDamaged
			}
			e.note("%s: %s, chain intact", ref, count(len(h.Entries), "generation"))
			return nil
		},
	}
}

// printClusterStatus prints a status for people: text from etcd is
// quoted where it holds control characters, as vfsctl log does.
func printClusterStatus(e *env, s ctl.ClusterStatus) {
	w := e.stdout
	fmt.Fprintf(w, "cluster %s, seen from %s\n", s.Cluster, s.Node)
	if s.Etcd != "" {
		fmt.Fprintf(w, "etcd %s\nthe last state %s read (%s):\n", printable(s.Etcd), s.Node, s.AsOf.Local().Format("2006-01-02 15:04:05"))
	}
	refs := sortedKeys(s.Refs)
	for _, r := range refs {
		x := s.Refs[r]
		line := fmt.Sprintf("ref %s: committed generation %d (%s)", r, s.Committed[r], shortOrNone(x.Committed))
		if s.Desired[r] > s.Committed[r] {
			if x.Withdrawn {
				line += fmt.Sprintf(", generation %d withdrew a release", s.Desired[r])
			} else {
				line += fmt.Sprintf(", generation %d (%s) desired by %s", s.Desired[r], shortOrNone(x.Desired), printable(x.DesiredBy))
			}
		}
		if x.Reason != "" {
			line += ": " + printable(x.Reason)
		}
		fmt.Fprintln(w, line)
		if x.Problem != "" {
			fmt.Fprintf(w, "  problem: %s\n", printable(x.Problem))
		}
		if x.Behind != "" {
			fmt.Fprintf(w, "  %s\n", printable(x.Behind))
		}
	}
	for _, n := range sortedKeys(s.Nodes) {
		m := s.Nodes[n]
		state := "ready"
		if !m.Ready {
			state = "not ready: " + printable(m.Reason)
		}
		fmt.Fprintf(w, "member %s (%s): %s\n", n, m.Peer, state)
		for _, r := range refs {
			mr := m.Refs[r]
			drift := ""
			if mr.Drift {
				drift = ", drift"
			}
			fmt.Fprintf(w, "  %s: staged %d (%s), applied %d (%s), serves %s%s\n", r, s.Staged[n][r], shortOrNone(mr.Staged),
				s.Applied[n][r], shortOrNone(mr.Applied), shortOrNone(mr.Serves), drift)
			if mr.Error != "" {
				fmt.Fprintf(w, "    failing: %s\n", printable(mr.Error))
			}
		}
	}
	for _, n := range sortedKeys(s.Evicted) {
		ev := s.Evicted[n]
		fmt.Fprintf(w, "evicted %s by %s at %s: %s\n", n, ev.By, ev.Time.Local().Format("2006-01-02 15:04:05"), printable(ev.Reason))
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "unreadable in etcd: %s\n", printable(p))
	}
	if s.Error != "" {
		fmt.Fprintf(w, "last errors on %s: %s\n", s.Node, printable(s.Error))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
