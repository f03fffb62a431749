package ecr

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/registry"
)

func TestParsePolicy(t *testing.T) {
	rule := func(prio, sel string) string {
		return `{"rulePriority":` + prio + `,"description":"a rule of a lifecycle policy","selection":` + sel + `,"action":{"type":"expire"}}`
	}
	doc := func(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }
	count := `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3}`
	tests := []struct {
		name string
		text string
		ok   bool
	}{
		{"count", doc(rule("1", count)), true},
		{"age", doc(rule("1", `{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":14}`)), true},
		{"prefixes", doc(rule("1", `{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1}`)), true},
		{"patterns", doc(rule("1", `{"tagStatus":"tagged","tagPatternList":["prod*v"],"countType":"imageCountMoreThan","countNumber":1}`)), true},
		{"too short", `{"rules":[]}`, false},
		{"not json", strings.Repeat("x", 120), false},
		{"unknown member", doc(rule("1", `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3,"bogus":1}`)), false},
		{"duplicate priority", doc(rule("1", count), rule("1", count)), false},
		{"zero priority", doc(rule("0", count)), false},
		{"tagged without prefixes", doc(rule("1", `{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}`)), false},
		{"prefixes and patterns", doc(rule("1", `{"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["a*"],"countType":"imageCountMoreThan","countNumber":1}`)), false},
		{"age without days", doc(rule("1", `{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1}`)), false},
		{"count with unit", doc(rule("1", `{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}`)), false},
		{"zero count", doc(rule("1", `{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0}`)), false},
		{"any not last", doc(rule("1", `{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}`), rule("2", count)), false},
		{"bad status", doc(rule("1", `{"tagStatus":"some","countType":"imageCountMoreThan","countNumber":1}`)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePolicy(tc.text)
			if (err == nil) != tc.ok {
				t.Fatalf("parsePolicy: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !apierror.IsCode(err, apierror.CodeInvalidParameter) {
				t.Fatalf("error %v is not InvalidParameterException", err)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	img := func(d string, daysAgo int, tags ...string) registry.Image {
		return registry.Image{Digest: d, PushedAt: now.Add(-time.Duration(daysAgo) * 24 * time.Hour), Tags: tags}
	}
	imgs := []registry.Image{
		img("p1", 9, "prod-1"), img("p2", 5, "prod-2"), img("p3", 2, "prod-3", "latest"),
		img("d1", 8, "dev-1"), img("u1", 7), img("u2", 0),
	}
	tests := []struct {
		name   string
		policy string
		want   []string
	}{
		{"keep two prod", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`,
			[]string{"p1"}},
		{"untagged older than 3 days", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3},"action":{"type":"expire"}}]}`,
			[]string{"u1"}},
		{"every prefix must match", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod","lat"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`,
			[]string{"p3"}},
		{"patterns", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*-1"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`,
			[]string{"d1", "p1"}},
		// prod images are claimed by rule 1 (which keeps all three), so
		// rule 2's "any, keep 1" cannot expire them.
		{"a matched image is out of reach of later rules", `{"rules":[
			{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
			{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			[]string{"u1", "d1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicyUnchecked(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range evaluate(p, imgs, now) {
				got = append(got, e.Image.Digest)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("expired %v, want %v", got, tc.want)
			}
		})
	}
}

// parsePolicyUnchecked parses a short policy in tests: the length rule
// aside, as parsePolicy.
func parsePolicyUnchecked(text string) (*lifecyclePolicy, error) {
	if len(text) < 100 {
		text += strings.Repeat(" ", 100-len(text))
	}
	return parsePolicy(text)
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"prod", "prod", true}, {"prod", "prod1", false}, {"prod*", "prod1", true}, {"*1", "prod1", true},
		{"p*d*1", "prod1", true}, {"p*x*1", "prod1", false}, {"*", "", true}, {"a*a", "a", false},
	} {
		if got := registry.WildcardMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("WildcardMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
