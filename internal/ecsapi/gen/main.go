// Command gen writes the ECS wire shapes (shapes_gen.go) from the botocore
// service model of Amazon ECS (ecs/2014-11-13/service-2.json).
//
// Usage (from the repository root):
//
//	go run ./internal/ecsapi/gen -model /path/to/service-2.json[.gz] -out internal/ecsapi/shapes_gen.go
//
// With no -model it looks in the places the awscli and botocore packages
// install the model. The generated file is committed; regenerate it when the
// model changes and review the diff.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type member struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string            `json:"type"`
	Members   map[string]member `json:"members"`
	Required  []string          `json:"required"`
	Member    *member           `json:"member"`
	Key       *member           `json:"key"`
	Value     *member           `json:"value"`
	Enum      []string          `json:"enum"`
	Box       bool              `json:"box"`
	Exception bool              `json:"exception"`
	Min       *float64          `json:"min"`
	Max       *float64          `json:"max"`
}

type operation struct {
	Name   string  `json:"name"`
	Input  *member `json:"input"`
	Output *member `json:"output"`
}

type model struct {
	Metadata   map[string]any       `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]shape     `json:"shapes"`
}

func main() {
	modelPath := flag.String("model", "", "path to ecs service-2.json or service-2.json.gz")
	out := flag.String("out", "internal/ecsapi/shapes_gen.go", "output file")
	flag.Parse()
	if err := run(*modelPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func findModel() (string, error) {
	patterns := []string{
		"/usr/lib/python3/dist-packages/awscli/botocore/data/ecs/2014-11-13/service-2.json*",
		"/usr/lib/python3/dist-packages/botocore/data/ecs/2014-11-13/service-2.json*",
		"/root/.pyenv/versions/*/lib/python*/site-packages/botocore/data/ecs/2014-11-13/service-2.json*",
	}
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		if len(m) > 0 {
			return m[len(m)-1], nil
		}
	}
	return "", fmt.Errorf("no ECS service model found; pass -model")
}

func load(path string) (*model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = gz
	}
	var m model
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &m, nil
}

func run(modelPath, out string) error {
	if modelPath == "" {
		p, err := findModel()
		if err != nil {
			return err
		}
		modelPath = p
	}
	m, err := load(modelPath)
	if err != nil {
		return err
	}
	g := &generator{m: m}
	src, err := g.generate()
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

type generator struct {
	m   *model
	buf bytes.Buffer
}

func (g *generator) p(format string, args ...any) {
	fmt.Fprintf(&g.buf, format, args...)
	g.buf.WriteByte('\n')
}

func exported(name string) string {
	if name == "" {
		return name
	}
	n := strings.ToUpper(name[:1]) + name[1:]
	return n
}

// goType returns the Go type for a member of shape name. boxed says whether
// scalars should be pointers so that absence is kept.
func (g *generator) goType(name string) string {
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		return "*" + name
	case "list":
		return "[]" + strings.TrimPrefix(g.goElem(s.Member.Shape), "")
	case "map":
		return "map[string]" + g.goElem(s.Value.Shape)
	case "string":
		if len(s.Enum) > 0 {
			return name
		}
		return "string"
	case "integer":
		if s.Box {
			return "*int32"
		}
		return "int32"
	case "long":
		if s.Box {
			return "*int64"
		}
		return "int64"
	case "double", "float":
		if s.Box {
			return "*float64"
		}
		return "float64"
	case "boolean":
		if s.Box {
			return "*bool"
		}
		return "bool"
	case "timestamp":
		return "*Timestamp"
	case "blob":
		return "[]byte"
	}
	panic("unknown shape type " + s.Type + " for " + name)
}

// goElem is the element type inside a list or map: structures by value.
func (g *generator) goElem(name string) string {
	s := g.m.Shapes[name]
	switch s.Type {
	case "structure":
		return name
	case "integer":
		return "int32"
	case "long":
		return "int64"
	case "double", "float":
		return "float64"
	case "boolean":
		return "bool"
	}
	return g.goType(name)
}

func (g *generator) omit(name string) bool {
	s := g.m.Shapes[name]
	switch s.Type {
	case "integer", "long", "double", "float", "boolean":
		// Unboxed scalars are always present on the wire in ECS responses.
		return s.Box
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (g *generator) generate() ([]byte, error) {
	g.p("// Code generated by internal/ecsapi/gen from the botocore ECS model; DO NOT EDIT.")
	g.p("")
	g.p("package ecsapi")
	g.p("")
	g.p("import \"reflect\"")
	g.p("")
	g.p("// TargetPrefix is the X-Amz-Target prefix of every ECS operation.")
	g.p("const TargetPrefix = %q", g.m.Metadata["targetPrefix"])
	g.p("")
	// Operations table.
	g.p("// Operations lists every operation of the ECS API with the names of its")
	g.p("// input and output shapes.")
	g.p("func Operations() map[string][2]string {")
	g.p("return map[string][2]string{")
	for _, name := range sortedKeys(g.m.Operations) {
		op := g.m.Operations[name]
		in, out := "", ""
		if op.Input != nil {
			in = op.Input.Shape
		}
		if op.Output != nil {
			out = op.Output.Shape
		}
		g.p("%q: {%q, %q},", name, in, out)
	}
	g.p("}")
	g.p("}")
	g.p("")
	g.p("// ShapeType returns the Go type of an operation's input or output shape")
	g.p("// by its model name, or nil.")
	g.p("func ShapeType(name string) reflect.Type {")
	g.p("switch name {")
	seen := map[string]bool{}
	for _, name := range sortedKeys(g.m.Operations) {
		op := g.m.Operations[name]
		for _, m := range []*member{op.Input, op.Output} {
			if m == nil || seen[m.Shape] {
				continue
			}
			seen[m.Shape] = true
			g.p("case %q: return reflect.TypeFor[%s]()", m.Shape, m.Shape)
		}
	}
	g.p("}")
	g.p("return nil")
	g.p("}")
	g.p("")
	for _, name := range sortedKeys(g.m.Shapes) {
		s := g.m.Shapes[name]
		switch {
		case s.Exception:
			continue
		case s.Type == "string" && len(s.Enum) > 0:
			g.p("// %s is the ECS enumeration of the same name.", name)
			g.p("type %s string", name)
			g.p("")
			g.p("// Values returns every value of %s the model defines.", name)
			g.p("func (%s) Values() []%s {", name, name)
			g.p("return []%s{", name)
			for _, v := range s.Enum {
				g.p("%q,", v)
			}
			g.p("}")
			g.p("}")
			g.p("")
		case s.Type == "structure":
			g.p("// %s is the ECS structure of the same name.", name)
			g.p("type %s struct {", name)
			req := map[string]bool{}
			for _, r := range s.Required {
				req[r] = true
			}
			for _, mn := range sortedKeys(s.Members) {
				mem := s.Members[mn]
				tag := mn
				if g.omit(mem.Shape) {
					tag += ",omitempty"
				}
				extra := ""
				if req[mn] {
					extra = ` required:"true"`
				}
				g.p("%s %s `json:%q%s`", exported(mn), g.goType(mem.Shape), tag, extra)
			}
			g.p("}")
			g.p("")
		}
	}
	src, err := format.Source(g.buf.Bytes())
	if err != nil {
		return g.buf.Bytes(), fmt.Errorf("format: %w", err)
	}
	return src, nil
}
