package main

// The command-line client: "sawmill login", "keys", "search", "tail" and
// "ingest" talk to a Sawmill over its HTTP API. They live in the server's
// binary; run() routes them here before it parses a role (see
// isClientCommand for how "sawmill ingest" tells the client from the role).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
)

// Exit codes of client commands.
const (
	exitOK    = 0
	exitError = 1 // the API or the network failed, or lines were rejected
	exitUsage = 2 // bad command line
)

// cli is one run of a client command: its streams, environment and HTTP
// client. Tests build one with their own streams and environment.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	http   *http.Client

	// Global flags.
	url    string
	key    string
	json   bool
	config string // resolved config file path
}

// clientCommand is one subcommand: its help text and how it runs. run gets
// the positional arguments left after flag parsing.
type clientCommand struct {
	name    string
	summary string
	usage   string // first line after "sawmill "
	help    string // explanation and examples
	flags   func(c *cli, fs *flag.FlagSet) func(args []string) error
}

// clientCommands lists the subcommands in the order "sawmill help" shows them.
func clientCommands() []clientCommand {
	return []clientCommand{
		signupCommand(), loginCommand(), logoutCommand(), keysCommand(),
		searchCommand(), tailCommand(), ingestCommand(),
	}
}

func findCommand(name string) (clientCommand, bool) {
	for _, c := range clientCommands() {
		if c.name == name {
			return c, true
		}
	}
	return clientCommand{}, false
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// runCLI runs one client command line (args without the program name) and
// returns the process exit code. getenv reads SAWMILL_URL, SAWMILL_API_KEY,
// SAWMILL_CONFIG, SAWMILL_PASSWORD and HOME/XDG_CONFIG_HOME.
func runCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		http: &http.Client{Transport: http.DefaultTransport}}
	err := c.run(args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "sawmill:", err)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	default:
		fmt.Fprintln(stderr, "sawmill:", err)
		return exitError
	}
}

// errReported ends a command that already told the user what went wrong
// (rejected lines) with exit code 1 and nothing more to print.
var errReported = errors.New("reported")

func (c *cli) run(args []string) error {
	// Global flags may come before the command: sawmill --url X search ...
	pre := flag.NewFlagSet("sawmill", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	c.globalFlags(pre)
	var rest []string
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") || args[i] == "-" {
			rest = args[i:]
			break
		}
		if isHelpArg(args[i]) {
			return c.help(nil)
		}
		n, err := takeFlag(pre, args[i:])
		if err != nil {
			return usagef("%v (see sawmill help)", err)
		}
		i += n - 1
	}
	if len(rest) == 0 {
		fmt.Fprintln(c.stderr, usage)
		return usageError{"no command given"}
	}
	if rest[0] == "help" {
		return c.help(rest[1:])
	}
	cmd, ok := findCommand(rest[0])
	if !ok {
		return usagef("unknown command %q (see sawmill help)", rest[0])
	}
	fs := flag.NewFlagSet("sawmill "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.globalFlags(fs)
	// Values set before the command are the defaults of the command's flags.
	pre.Visit(func(f *flag.Flag) { _ = fs.Set(f.Name, f.Value.String()) })
	runFn := cmd.flags(c, fs)
	positional, err := parseInterspersed(fs, rest[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.commandHelp(c.stdout, cmd)
		return flag.ErrHelp
	}
	if err != nil {
		return usagef("%s: %v (see sawmill %s -h)", cmd.name, err, cmd.name)
	}
	if err := c.resolve(); err != nil {
		return err
	}
	return runFn(positional)
}

func isHelpArg(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// globalFlags registers --url, --key and --json, read from the environment
// when not given.
func (c *cli) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", c.url, "Sawmill base URL (env SAWMILL_URL; default: the logged-in URL, else http://127.0.0.1:8080)")
	fs.StringVar(&c.key, "key", c.key, "API key (env SAWMILL_API_KEY); used instead of the session for ingest, search and tail")
	fs.BoolVar(&c.json, "json", c.json, "machine output: the API's JSON as-is (one object per line)")
}

// resolve fills what the flags left empty from the environment.
func (c *cli) resolve() error {
	if c.url == "" {
		c.url = c.getenv("SAWMILL_URL")
	}
	if c.key == "" {
		c.key = c.getenv("SAWMILL_API_KEY")
	}
	c.url = strings.TrimRight(c.url, "/")
	if c.url != "" && !strings.HasPrefix(c.url, "http://") && !strings.HasPrefix(c.url, "https://") {
		return usagef("--url %q: want http://host:port or https://host", c.url)
	}
	path, err := configPath(c.getenv)
	if err != nil {
		return err
	}
	c.config = path
	return nil
}

// takeFlag parses the flag at args[0] (and its value in args[1] when it is
// written "--name value") into fs, returning how many args it used.
func takeFlag(fs *flag.FlagSet, args []string) (int, error) {
	name, hasValue := flagName(args[0])
	f := fs.Lookup(name)
	if f == nil {
		return 0, fmt.Errorf("unknown flag %s", args[0])
	}
	n := 1
	in := []string{args[0]}
	if !hasValue && !isBoolFlag(f) {
		if len(args) < 2 {
			return 0, fmt.Errorf("flag %s needs a value", args[0])
		}
		in = append(in, args[1])
		n = 2
	}
	if err := fs.Parse(in); err != nil {
		return 0, err
	}
	return n, nil
}

// flagName returns the name in "-name", "--name" or "--name=value".
func flagName(arg string) (string, bool) {
	s := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	name, _, hasValue := strings.Cut(s, "=")
	return name, hasValue
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseInterspersed parses flags anywhere among the arguments, so that
// "sawmill search level:error --from -2h" works. An argument starting with
// "-" that is not a defined flag is positional, so that a negated query
// term ("-level:debug") needs no quoting; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(positional, args[i+1:]...), nil
		}
		if isHelpArg(a) {
			return nil, flag.ErrHelp
		}
		name, _ := flagName(a)
		if len(a) < 2 || a[0] != '-' || fs.Lookup(name) == nil {
			positional = append(positional, a)
			continue
		}
		n, err := takeFlag(fs, args[i:])
		if err != nil {
			return nil, err
		}
		i += n - 1
	}
	return positional, nil
}

// help prints the overview, or one command's help.
func (c *cli) help(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(c.stdout, usage)
		return nil
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		if roles[args[0]] {
			fmt.Fprintf(c.stdout, "sawmill %s runs a server role; its flags: sawmill %s -h\n", args[0], args[0])
			return nil
		}
		return usagef("unknown command %q (see sawmill help)", args[0])
	}
	c.commandHelp(c.stdout, cmd)
	return nil
}

func (c *cli) commandHelp(w io.Writer, cmd clientCommand) {
	fmt.Fprintf(w, "usage: sawmill %s\n\n%s\n", cmd.usage, strings.TrimSpace(cmd.help))
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	h := &cli{}
	h.globalFlags(fs)
	cmd.flags(h, fs)
	var local, global []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "url" || f.Name == "key" || f.Name == "json" {
			global = append(global, f)
		} else {
			local = append(local, f)
		}
	})
	printFlags(w, "flags", local)
	printFlags(w, "global flags", global)
}

func printFlags(w io.Writer, title string, flags []*flag.Flag) {
	if len(flags) == 0 {
		return
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, f := range flags {
		arg := " value"
		if isBoolFlag(f) {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s\n      %s", f.Name, arg, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

// clientCommandNames are the words that make run() hand the command line to
// the client (ingest is decided by isClientCommand).
var clientCommandNames = map[string]bool{
	"help": true, "-h": true, "--help": true, "-help": true,
	"signup": true, "login": true, "logout": true, "keys": true, "search": true, "tail": true,
}

// isClientCommand reports whether a command line is for the client rather
// than a server role. "ingest" is both: it is the client when it names a
// file or "-", uses a client flag (--url, --key, --json, --service,
// --batch), or has input piped or redirected into it — and gives no
// server flag (one with a dot, like -nats.url, or -data-dir, -plans).
// Otherwise it runs the ingest role as before.
func isClientCommand(args []string, stdin *os.File) bool {
	if len(args) == 0 {
		return true
	}
	if clientCommandNames[args[0]] {
		return true
	}
	if strings.HasPrefix(args[0], "-") {
		name, _ := flagName(args[0])
		return name == "url" || name == "key" || name == "json"
	}
	if args[0] != "ingest" {
		return false
	}
	client, server := classifyIngestArgs(args[1:])
	if server {
		return false
	}
	return client || stdinIsData(stdin)
}

// classifyIngestArgs looks at the arguments after "ingest": client is set by
// a positional argument or a client flag, server by a server flag.
func classifyIngestArgs(args []string) (client, server bool) {
	clientFlags := map[string]bool{"url": true, "key": true, "json": true, "service": true, "batch": true, "h": true, "help": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" || !strings.HasPrefix(a, "-") || a == "--" {
			client = true
			continue
		}
		name, hasValue := flagName(a)
		switch {
		case clientFlags[name]:
			client = true
		default:
			server = true
			if !hasValue && name != "debug.pprof" && i+1 < len(args) {
				i++ // the flag's value
			}
		}
	}
	return client, server
}

// stdinIsData reports whether stdin is a pipe or a regular file (not a
// terminal or /dev/null).
func stdinIsData(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeNamedPipe != 0 || st.Mode().IsRegular()
}
