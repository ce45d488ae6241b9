package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
)

func clusterStatusCommand(e *env) *command {
	return &command{
		name: "cluster status", nargs: [2]int{0, 0},
		summary: "show vfsd's cluster: members, and each ref's generations",
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
			fmt.Fprintf(e.stdout, "cluster %s, seen from %s\n", s.Cluster, s.Node)
			var nodes []string
			for n := range s.Members {
				nodes = append(nodes, n)
			}
			sort.Strings(nodes)
			var refs []string
			for r := range s.Desired {
				refs = append(refs, r)
			}
			sort.Strings(refs)
			for _, r := range refs {
				fmt.Fprintf(e.stdout, "ref %s: desired generation %d, committed %d\n", r, s.Desired[r], s.Committed[r])
			}
			for _, n := range nodes {
				var parts []string
				for _, r := range refs {
					parts = append(parts, fmt.Sprintf("%s staged %d applied %d", r, s.Staged[n][r], s.Applied[n][r]))
				}
				fmt.Fprintf(e.stdout, "member %s (%s): %s\n", n, s.Members[n], strings.Join(parts, "; "))
			}
			var evicted []string
			for n := range s.Evicted {
				evicted = append(evicted, n)
			}
			sort.Strings(evicted)
			for _, n := range evicted {
				ev := s.Evicted[n]
				fmt.Fprintf(e.stdout, "evicted %s by %s at %s: %s\n", n, ev.By, ev.Time.Format("2006-01-02 15:04:05"), ev.Reason)
			}
			if s.Error != "" {
				fmt.Fprintf(e.stdout, "last error on %s: %s\n", s.Node, s.Error)
			}
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
					fmt.Fprintf(e.stdout, "%d  %s  %s -> %s  by %s  %s\n", x.Gen, x.Time.Local().Format("2006-01-02 15:04:05"),
						shortOrNone(x.Prev), x.Snapshot.Short(), x.Node, x.Reason)
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
