// Command apigen writes the wire shapes of each AWS API Gantry serves, one
// Go package per service (internal/<svc>api), from the botocore service
// models pinned under models/ (see models/README.md). For each service it
// writes shapes_gen.go (every structure and enumeration of the model,
// exceptions excepted) and service_gen.go (the model's metadata, its
// operations and its errors, described with package awsop). The rules the
// generated code follows are in the wire contract of the protocol layer
// (internal/awsproto).
//
// Usage, from the repository root:
//
//	go run ./internal/apigen                  # all services
//	go run ./internal/apigen -service elbv2   # one service
//
// or `go generate ./internal/apigen`. The generated files are committed;
// TestGeneratedUpToDate fails when they differ from what the pinned models
// give, so regenerate after changing a model or the generator and review
// the diff.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

//go:generate go run . -root ../..

// service is one AWS API the generator writes a package for.
type service struct {
	// Model is the model's directory under models/ (botocore's name).
	Model string
	// Package is the Go package's name and directory under internal/.
	Package string
	// ECS selects the rules today's ECS callers compile against: scalars
	// are pointers only when the shape is boxed, members are sorted by
	// name, timestamps are the package's Timestamp alias, and the legacy
	// OperationShapes and ShapeType are written.
	ECS bool
	// ErrorStatus gives the HTTP status of exception shapes whose botocore
	// model names none although the Smithy model the AWS SDKs are
	// generated from does (a status of 500 or more makes a server fault).
	ErrorStatus map[string]int
}

// services lists the APIs Gantry serves.
func services() []service {
	return []service{
		{Model: "ecs", Package: "ecsapi", ECS: true,
			ErrorStatus: map[string]int{"AccessDeniedException": 403}},
		{Model: "elbv2", Package: "elbv2api"},
		{Model: "logs", Package: "logsapi"},
		{Model: "cloudwatch", Package: "cloudwatchapi"},
		{Model: "application-autoscaling", Package: "autoscalingapi",
			ErrorStatus: map[string]int{
				"ConcurrentUpdateException": 500, "InternalServiceException": 500, "ResourceNotFoundException": 404,
			}},
		{Model: "ecr", Package: "ecrapi"},
	}
}

func main() {
	root := flag.String("root", ".", "repository root: packages are written to ROOT/internal/<pkg>")
	models := flag.String("models", "", "directory of the pinned models (default ROOT/internal/apigen/models)")
	only := flag.String("service", "", "generate only this service (model name, e.g. elbv2)")
	flag.Parse()
	if *models == "" {
		*models = filepath.Join(*root, "internal", "apigen", "models")
	}
	if err := run(*models, *root, *only); err != nil {
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
}

// run generates the packages of every service (or only the one named) from
// the models in modelsDir into outRoot/internal/<pkg>.
func run(modelsDir, outRoot, only string) error {
	found := false
	for _, s := range services() {
		if only != "" && s.Model != only {
			continue
		}
		found = true
		files, err := generateService(modelsDir, s)
		if err != nil {
			return err
		}
		dir := filepath.Join(outRoot, "internal", s.Package)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, src := range files {
			if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("unknown service %q", only)
	}
	return nil
}

// generateService reads the pinned model of s and returns its generated
// files by name.
func generateService(modelsDir string, s service) (map[string][]byte, error) {
	m, err := loadModel(filepath.Join(modelsDir, s.Model, "service-2.json.gz"))
	if err != nil {
		return nil, err
	}
	for name, status := range s.ErrorStatus {
		sh := m.Shapes[name]
		if sh == nil || !sh.Exception || sh.Error != nil {
			return nil, fmt.Errorf("%s: %s is not an exception shape without an error trait", s.Model, name)
		}
		sh.Error = &errorTrait{HTTPStatusCode: status}
	}
	g := &generator{m: m, s: s}
	shapes, err := g.shapesFile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Model, err)
	}
	svc, err := g.serviceFile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Model, err)
	}
	return map[string][]byte{"shapes_gen.go": shapes, "service_gen.go": svc}, nil
}
