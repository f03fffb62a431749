package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// graph is the import graph of a set of packages and their dependencies.
type graph struct {
	imports  map[string][]string // direct imports of each package
	standard map[string]bool     // packages of the standard library
	module   []string            // the module's own packages (the roots), sorted
}

// loadGraph lists the module's packages and everything they link, through
// the go command.
func loadGraph(modulePath string) (*graph, error) {
	if err := statInputs(); err != nil {
		return nil, err
	}
	out, err := exec.Command("go", "list", "-deps",
		"-f", `{{.ImportPath}} {{.Standard}}{{range .Imports}} {{.}}{{end}}`,
		modulePath+"/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("go list -deps %s/...: %v\n%s", modulePath, err, ee.Stderr)
		}
		return nil, fmt.Errorf("go list -deps %s/...: %w", modulePath, err)
	}
	return parseGraph(out, modulePath)
}

// statInputs stats every Go file and go.mod under the module's root dir.
// The go command's test cache records what a test stats, so a change to
// any of them reruns the test instead of reusing a result from before the
// change (the go list it runs is invisible to the cache).
func statInputs() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not in a module")
	}
	root := filepath.Dir(gomod)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || p == gomod {
			_, err = os.Stat(p)
		}
		return err
	})
}

// parseGraph reads lines of "IMPORTPATH STANDARD IMPORTS...".
func parseGraph(out []byte, modulePath string) (*graph, error) {
	g := &graph{imports: map[string][]string{}, standard: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			return nil, fmt.Errorf("go list: unexpected line %q", sc.Text())
		}
		p := f[0]
		g.imports[p] = f[2:]
		g.standard[p] = f[1] == "true"
		if p == modulePath || strings.HasPrefix(p, modulePath+"/") {
			g.module = append(g.module, p)
		}
	}
	slices.Sort(g.module)
	return g, sc.Err()
}

// match reports whether import path p matches pattern: "x/..." is x and
// everything below it; path.Match wildcards (*) match within one element.
func match(pattern, p string) bool {
	base, below := strings.CutSuffix(pattern, "/...")
	if !below {
		ok, _ := path.Match(pattern, p)
		return ok
	}
	n := strings.Count(base, "/") + 1
	parts := strings.Split(p, "/")
	if len(parts) < n {
		return false
	}
	ok, _ := path.Match(base, strings.Join(parts[:n], "/"))
	return ok
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if match(pat, p) {
			return true
		}
	}
	return false
}

// violation is one package a root may not link, with the chain of imports
// that links it, root first.
type violation struct {
	root  string
	chain []string
}

// check applies r to g: for each of the module's packages matching r.from,
// every package it links (transitively) that r refuses, with the shortest
// chain of imports to it. It also says whether r.from matched anything.
func (g *graph) check(r rule) (vs []violation, matched bool) {
	for _, root := range g.module {
		if !matchAny(r.from, root) {
			continue
		}
		matched = true
		parent := map[string]string{root: ""}
		queue := []string{root}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, d := range g.imports[p] {
				if _, seen := parent[d]; seen {
					continue
				}
				parent[d] = p
				if r.refuses(g, d) {
					var chain []string
					for q := d; q != ""; q = parent[q] {
						chain = append(chain, q)
					}
					slices.Reverse(chain)
					vs = append(vs, violation{root: root, chain: chain})
					continue // one report per offender; do not walk past it
				}
				queue = append(queue, d)
			}
		}
	}
	return vs, matched
}

// refuses reports whether r forbids linking p.
func (r rule) refuses(g *graph, p string) bool {
	if matchAny(r.forbid, p) {
		return true
	}
	if r.only == nil {
		return false
	}
	// "C" is cgo's pseudo-package, imported by some of the standard library.
	if (g.standard[p] || p == "C") && slices.Contains(r.only, "std") {
		return false
	}
	return !matchAny(r.only, p)
}
