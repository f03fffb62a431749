package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// LookupEnv reads an environment variable, as os.LookupEnv does; tests pass
// a map's lookup instead.
type LookupEnv func(name string) (string, bool)

// EnvName returns the environment variable that stands in for a flag:
// GANTRY_ and the flag's name upper-cased with - as _ ("listen" is
// GANTRY_LISTEN, "data-dir" GANTRY_DATA_DIR).
func EnvName(flagName string) string {
	return "GANTRY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line
// from its environment variable (EnvName), when that is set. Call it after
// fs.Parse. It reports every value a flag refuses, naming the variable.
func ApplyEnv(fs *flag.FlagSet, lookup LookupEnv) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := lookup(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// listFlag is a comma-separated list flag; each use replaces the list.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(v string) error {
	*l = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// mapFlag collects repeatable NAME=VALUE flags into a map.
type mapFlag map[string]string

func (a mapFlag) String() string { return fmt.Sprint(map[string]string(a)) }

func (a mapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	a[k] = val
	return nil
}
