package ctl

import (
	"bufio"
	"fmt"
	"io"
	"os/user"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/vfs-project/vfs/store"
)

// Access rules (vfsd --access FILE): who may do what on the control
// socket. One rule a line, `WHO ROLE [REF...]`: WHO is user:NAME or
// group:NAME, ROLE is read (every read endpoint), deploy (read, imports,
// labels, and activate, rollback and cluster activate of the listed refs,
// globs allowed) or admin (everything). Root and vfsd's own user are
// always admin; without rules, the socket's group is admin.

// Role is what a rule grants; each endpoint needs one (roleOf).
type Role int

const (
	RoleNone Role = iota
	RoleRead
	RoleDeploy
	RoleAdmin
)

func (r Role) String() string {
	return [...]string{"none", "read", "deploy", "admin"}[r]
}

// A Rule is one line of the access file.
type Rule struct {
	Line  int
	User  string // user:NAME, or
	Group string // group:NAME
	Role  Role
	Refs  []string // deploy: the refs (path.Match globs) it may move
	// uid or gid, resolved when the rules were read (-1: unknown, a
	// warning then).
	id int
}

func (r Rule) String() string {
	who := "user:" + r.User
	if r.Group != "" {
		who = "group:" + r.Group
	}
	s := who + " " + r.Role.String()
	if len(r.Refs) > 0 {
		s += " " + strings.Join(r.Refs, " ")
	}
	return s
}

// Access is the rules of an access file.
type Access struct {
	File  string
	Rules []Rule
}

// ParseAccess reads rules from r (named file in messages). A syntax error
// names its line; warn hears of a user or group this machine does not
// know (the rule stays, and matches no one until it exists).
func ParseAccess(r io.Reader, file string, warn func(string)) (*Access, error) {
	a := &Access{File: file}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		bad := func(why string) error {
			return fmt.Errorf("%s line %d: %s (a rule is WHO ROLE [REF...]: user:NAME or group:NAME, then read, deploy or admin): %w", file, n, why, store.ErrInvalid)
		}
		if len(f) < 2 {
			return nil, bad("too few words")
		}
		rule := Rule{Line: n, id: -1}
		kind, name, ok := strings.Cut(f[0], ":")
		if !ok || name == "" || (kind != "user" && kind != "group") {
			return nil, bad(fmt.Sprintf("%q is not user:NAME or group:NAME", f[0]))
		}
		switch f[1] {
		case "read":
			rule.Role = RoleRead
		case "deploy":
			rule.Role = RoleDeploy
		case "admin":
			rule.Role = RoleAdmin
		default:
			return nil, bad(fmt.Sprintf("role %q is not read, deploy or admin", f[1]))
		}
		rule.Refs = f[2:]
		switch {
		case rule.Role == RoleDeploy && len(rule.Refs) == 0:
			return nil, bad("deploy needs the refs it may move (globs such as preview-* allowed)")
		case rule.Role != RoleDeploy && len(rule.Refs) > 0:
			return nil, bad(f[1] + " takes no refs")
		}
		for _, g := range rule.Refs {
			if _, err := path.Match(g, "x"); err != nil || strings.Contains(g, "/") {
				return nil, bad(fmt.Sprintf("ref pattern %q", g))
			}
		}
		if kind == "user" {
			rule.User = name
			if u, err := user.Lookup(name); err == nil {
				rule.id, _ = strconv.Atoi(u.Uid)
			} else if warn != nil {
				warn(fmt.Sprintf("%s line %d: no user %s on this machine; the rule matches no one until it exists", file, n, name))
			}
		} else {
			rule.Group = name
			if g, err := user.LookupGroup(name); err == nil {
				rule.id, _ = strconv.Atoi(g.Gid)
			} else if warn != nil {
				warn(fmt.Sprintf("%s line %d: no group %s on this machine; the rule matches no one until it exists", file, n, name))
			}
		}
		a.Rules = append(a.Rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return a, nil
}

// matches says whether the rule is about a caller with uid and groups.
func (r Rule) matches(uid int, groups []int) bool {
	if r.id < 0 {
		return false
	}
	if r.User != "" {
		return r.id == uid
	}
	return slices.Contains(groups, r.id)
}

// allows says whether the rule lets its caller use an endpoint that needs
// role, on ref ("" for an endpoint that moves no ref).
func (r Rule) allows(role Role, ref string) bool {
	switch {
	case r.Role == RoleAdmin:
		return true
	case role == RoleRead:
		return r.Role >= RoleRead
	case role == RoleDeploy && r.Role == RoleDeploy:
		if ref == "" {
			return true
		}
		for _, g := range r.Refs {
			if ok, _ := path.Match(g, ref); ok {
				return true
			}
		}
	}
	return false
}

// check decides for a caller; the error names the caller's rules and what
// would allow the request.
func (a *Access) check(uid int, groups []int, name string, e *endpoint, ref string) error {
	role := roleOf(e)
	var theirs []string
	for _, r := range a.Rules {
		if !r.matches(uid, groups) {
			continue
		}
		if r.allows(role, ref) {
			return nil
		}
		theirs = append(theirs, fmt.Sprintf("%q (line %d)", r.String(), r.Line))
	}
	what := fmt.Sprintf("%s %s needs role %s", e.Method, e.Path, role)
	if ref != "" && role == RoleDeploy {
		what = fmt.Sprintf("%s of ref %s needs role deploy for %s", e.Name, ref, ref)
	}
	need := "user:" + name + " " + role.String()
	if role == RoleDeploy && ref != "" {
		need += " " + ref
	}
	has := "no rule of " + a.File + " names them"
	if len(theirs) > 0 {
		has = "their rules in " + a.File + ": " + strings.Join(theirs, ", ")
	}
	return fmt.Errorf("%s, and user %s (uid %d) has not: %s; a rule such as %q would allow it: %w", what, name, uid, has, need, ErrForbidden)
}

// roleOf is the role an endpoint needs: the table beside the endpoint
// table (endpoints.go). A test checks that it names every endpoint; one
// it did not name would need admin.
func roleOf(e *endpoint) Role {
	if r, ok := roles[e.Method+" "+e.Path]; ok {
		return r
	}
	return RoleAdmin
}

// roles: read for every read endpoint (but a whole backup), deploy for
// imports, labels, and the moves of a ref (checked against the rule's
// refs), admin for the rest (retention, gc, purge, removal, settings,
// pins, the cluster's members).
var roles = map[string]Role{
	"GET /v1/version":                    RoleRead,
	"GET /v1/status":                     RoleRead,
	"GET /v1/snapshots":                  RoleRead,
	"GET /v1/snapshots/{id}":             RoleRead,
	"GET /v1/snapshots/{id}/signatures":  RoleRead,
	"GET /v1/labels/{name}":              RoleRead,
	"GET /v1/refs":                       RoleRead,
	"GET /v1/log":                        RoleRead,
	"GET /v1/trees/{ref}":                RoleRead,
	"GET /v1/files/{ref}":                RoleRead,
	"GET /v1/files/{ref}/content":        RoleRead,
	"POST /v1/verify":                    RoleRead,
	"GET /v1/settings/classes":           RoleRead,
	"GET /v1/settings/retention":         RoleRead,
	"GET /v1/ready":                      RoleRead,
	"GET /v1/cluster/status":             RoleRead,
	"GET /v1/cluster/contact":            RoleRead,
	"GET /v1/cluster/refs/{ref}/history": RoleRead,
	"GET /v1/objects/{kind}/{ref}":       RoleRead,
	"POST /v1/objects/fetch":             RoleRead,
	"GET /v1/backup":                     RoleAdmin,

	"POST /v1/imports":                     RoleDeploy,
	"POST /v1/imports/{id}/cached":         RoleDeploy,
	"POST /v1/imports/{id}/want":           RoleDeploy,
	"POST /v1/imports/{id}/chunks":         RoleDeploy,
	"POST /v1/imports/{id}/objects":        RoleDeploy,
	"POST /v1/imports/{id}/variants":       RoleDeploy,
	"POST /v1/imports/{id}/commit":         RoleDeploy,
	"DELETE /v1/imports/{id}":              RoleDeploy,
	"POST /v1/snapshots/{id}/labels":       RoleDeploy,
	"POST /v1/snapshots/{id}/signatures":   RoleDeploy,
	"POST /v1/refs/{ref}/activate":         RoleDeploy,
	"POST /v1/refs/{ref}/rollback":         RoleDeploy,
	"DELETE /v1/refs/{ref}":                RoleDeploy,
	"POST /v1/cluster/refs/{ref}/activate": RoleDeploy,

	"DELETE /v1/snapshots/{id}":             RoleAdmin,
	"DELETE /v1/labels/{name}":              RoleAdmin,
	"PUT /v1/snapshots/{id}/pinned":         RoleAdmin,
	"PUT /v1/settings/classes":              RoleAdmin,
	"PUT /v1/settings/retention":            RoleAdmin,
	"POST /v1/prune":                        RoleAdmin,
	"POST /v1/gc":                           RoleAdmin,
	"POST /v1/purge":                        RoleAdmin,
	"POST /v1/cluster/members/{node}/evict": RoleAdmin,
	"DELETE /v1/cluster/evicted/{node}":     RoleAdmin,
}

// movesRef says whether an endpoint moves the ref in its path (a deploy
// rule must list it).
func movesRef(e *endpoint) bool {
	return roleOf(e) == RoleDeploy && strings.Contains(e.Path, "{ref}")
}
