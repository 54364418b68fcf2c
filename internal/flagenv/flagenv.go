// Package flagenv gives every flag of a flag set an environment-variable
// twin: --kafka-brokers is also QAAS_KAFKA_BROKERS. A flag given on the
// command line wins over its twin.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Prefix starts every environment-variable twin.
const Prefix = "QAAS_"

// Name is the environment variable that stands in for a flag.
func Name(flagName string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills the flags not given from their
// twins. Usage (for --help) and errors go to out, after summary.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, out io.Writer, summary string) error {
	fs.SetOutput(out)
	fs.Usage = func() { PrintUsage(fs, out, summary) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return Apply(fs, getenv)
}

// Apply sets every flag of fs not given on the command line from its
// environment-variable twin. Call it after fs.Parse.
func Apply(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(Name(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", Name(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// PrintUsage lists every flag of fs with its twin, after a summary.
func PrintUsage(fs *flag.FlagSet, out io.Writer, summary string) {
	fmt.Fprintf(out, "Usage: %s [flags]\n\n%s Every flag can also be set by the environment variable shown.\n\n", fs.Name(), summary)
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, "  --%s  [%s]\n      %s%s\n", f.Name, Name(f.Name), f.Usage, def)
	}
}

// SplitList reads a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ListVar defines a flag holding a comma-separated list (see SplitList).
// Its value prints back as the list it parses, so that flags rendered
// from a value read back the same.
func ListVar(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Var((*listValue)(p), name, usage)
}

type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = SplitList(s)
	return nil
}
