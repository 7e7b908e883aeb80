// Package envflag maps environment variables onto flags: a flag named
// "http.addr" is also set by SAWMILL_HTTP_ADDR (prefix, upper case, "." and
// "-" become "_"). A flag given on the command line wins over the
// environment, which wins over the default. It must not define flags itself.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Name returns the environment variable that sets flag name under prefix.
func Name(prefix, name string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return prefix + strings.ToUpper(r.Replace(name))
}

// Parse parses args into fs, then sets every flag that args did not set from
// its environment variable, if present. lookup is os.LookupEnv when nil.
func Parse(fs *flag.FlagSet, args []string, prefix string, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := Name(prefix, f.Name)
		if v, ok := lookup(env); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, serr)
			}
		}
	})
	return err
}
