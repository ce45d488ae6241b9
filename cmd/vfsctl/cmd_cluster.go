package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vfs-project/vfs/ctl"
)

func clusterStatusCommand(e *env) *command {
	return &command{
		name: "cluster status", nargs: [2]int{0, 0},
		summary: "show vfsd's cluster: members, and each ref's generations",
		run: func(e *env, _ []string) error {
			api, err := e.store()
			if err != nil {
				return err
			}
			c, ok := api.(*ctl.Client)
			if !ok {
				return usageError{"cluster status: talk to vfsd (--socket)"}
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
			if s.Error != "" {
				fmt.Fprintf(e.stdout, "last error on %s: %s\n", s.Node, s.Error)
			}
			return nil
		},
	}
}
