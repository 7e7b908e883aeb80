package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"
)

func signupCommand() clientCommand {
	return clientCommand{
		name:    "signup",
		summary: "create an account and log in",
		usage:   "signup --email EMAIL --org ORGANIZATION",
		help: `
Creates a tenant with its first user, prints the tenant's first API key
(scopes ingest and query; shown once: keep it), and stores the session like
"sawmill login". The password (10 to 72 bytes) is read from SAWMILL_PASSWORD,
else asked for (from the first line of stdin when it is not a terminal).

Examples:
  sawmill signup --email ada@example.com --org "Example Ltd"
  sawmill --url https://logs.example.com signup --email ada@example.com --org Example
  "sawmill login --signup" does the same.`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			email := fs.String("email", "", "e-mail address, the login name (asked for when empty)")
			org := fs.String("org", "", "organization name (default: the e-mail's domain)")
			return func(args []string) error {
				if len(args) > 0 {
					return usagef("signup: unexpected argument %q", args[0])
				}
				return c.signup(*email, *org)
			}
		},
	}
}

func loginCommand() clientCommand {
	return clientCommand{
		name:    "login",
		summary: "log in and store the session",
		usage:   "login [--email EMAIL] [--signup --org ORGANIZATION]",
		help: `
Exchanges e-mail and password for a session token (valid one hour) and stores
it with the URL in $SAWMILL_CONFIG, else ~/.config/sawmill/config.json (mode
0600). Later commands use that session; "keys" needs it (or an admin key).
The password is read from SAWMILL_PASSWORD, else asked for (from the first
line of stdin when it is not a terminal). --signup creates the account first.

Examples:
  sawmill login --email ada@example.com
  sawmill --url https://logs.example.com login --email ada@example.com
  printf '%s\n' "$PW" | sawmill login --email ada@example.com`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			email := fs.String("email", "", "e-mail address (asked for when empty)")
			signup := fs.Bool("signup", false, "create the account first (see sawmill signup)")
			org := fs.String("org", "", "organization name with --signup (default: the e-mail's domain)")
			return func(args []string) error {
				if len(args) > 0 {
					return usagef("login: unexpected argument %q", args[0])
				}
				if *signup {
					return c.signup(*email, *org)
				}
				return c.login(*email)
			}
		},
	}
}

func logoutCommand() clientCommand {
	return clientCommand{
		name:    "logout",
		summary: "forget the stored session",
		usage:   "logout",
		help: `
Removes the session token from the config file (the URL stays).

Example:
  sawmill logout`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			return func([]string) error {
				cfg, err := c.loadConfig()
				if err != nil {
					return err
				}
				cfg.Token, cfg.ExpiresAt = "", ""
				if err := c.saveConfig(cfg); err != nil {
					return err
				}
				fmt.Fprintln(c.stderr, "logged out")
				return nil
			}
		},
	}
}

func (c *cli) signup(email, org string) error {
	email, password, err := c.askCredentials(email)
	if err != nil {
		return err
	}
	if org == "" {
		_, org, _ = strings.Cut(email, "@")
	}
	var out struct {
		TenantID string `json:"tenant_id"`
		APIKey   string `json:"api_key"`
		Token    string `json:"token"`
	}
	raw, err := c.call(request{method: "POST", path: "/v1/signup",
		body: map[string]string{"email": email, "password": password, "organization": org}}, &out)
	if err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	cfg := clientConfig{URL: c.baseURL(), Token: out.Token, TenantID: out.TenantID, Email: email,
		ExpiresAt: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	if err := c.saveConfig(cfg); err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "Signed up: tenant %s, logged in as %s (session stored in %s).\n", out.TenantID, email, c.config)
	fmt.Fprintf(c.stdout, "Your API key (ingest, query) is shown only once:\n\n  %s\n\n", out.APIKey)
	fmt.Fprintf(c.stdout, "Use it from your apps: export SAWMILL_API_KEY=%s SAWMILL_URL=%s\n", out.APIKey, cfg.URL)
	return nil
}

func (c *cli) login(email string) error {
	email, password, err := c.askCredentials(email)
	if err != nil {
		return err
	}
	var out struct {
		Token     string `json:"token"`
		TenantID  string `json:"tenant_id"`
		ExpiresAt string `json:"expires_at"`
	}
	raw, err := c.call(request{method: "POST", path: "/v1/login",
		body: map[string]string{"email": email, "password": password}}, &out)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	cfg := clientConfig{URL: c.baseURL(), Token: out.Token, TenantID: out.TenantID, Email: email, ExpiresAt: out.ExpiresAt}
	if err := c.saveConfig(cfg); err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "Logged in to %s as %s (tenant %s) until %s; session stored in %s.\n",
		cfg.URL, email, out.TenantID, out.ExpiresAt, c.config)
	return nil
}

// askCredentials returns the e-mail (asked for when empty) and the password
// (SAWMILL_PASSWORD, else asked for without echo on a terminal).
func (c *cli) askCredentials(email string) (string, string, error) {
	in := bufio.NewReader(c.stdin)
	if email == "" {
		fmt.Fprint(c.stderr, "E-mail: ")
		line, err := readLine(in)
		if err != nil {
			return "", "", fmt.Errorf("read e-mail: %w", err)
		}
		email = line
	}
	if email == "" {
		return "", "", usagef("an e-mail address is required (--email)")
	}
	password := c.getenv("SAWMILL_PASSWORD")
	if password == "" {
		fmt.Fprint(c.stderr, "Password: ")
		restore := noEcho(c.stdin)
		line, err := readLine(in)
		restore()
		if err != nil {
			return "", "", fmt.Errorf("read password: %w", err)
		}
		password = line
	}
	if password == "" {
		return "", "", usagef("a password is required (SAWMILL_PASSWORD or stdin)")
	}
	return email, password, nil
}

// readLine reads one line without its line ending; EOF after text is fine.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// noEcho turns off the terminal's echo while a password is typed, when in
// is a terminal (with stty; standard library only), and returns the undo.
func noEcho(in io.Reader) func() {
	f, ok := in.(*os.File)
	if !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	off := exec.Command("stty", "-echo")
	off.Stdin = f
	if off.Run() != nil {
		return func() {}
	}
	return func() {
		on := exec.Command("stty", "echo")
		on.Stdin = f
		_ = on.Run()
		fmt.Fprintln(os.Stderr)
	}
}

func keysCommand() clientCommand {
	return clientCommand{
		name:    "keys",
		summary: "list, create and revoke API keys",
		usage:   "keys list | keys create --name NAME [--scope ingest,query] | keys revoke ID",
		help: `
Manages the tenant's API keys (needs a session from "sawmill login", or an
admin key with --key). The secret of a new key is printed only once; revoking
takes effect on every node within a second.

Examples:
  sawmill keys list
  sawmill keys create --name django-prod --scope ingest
  sawmill keys create --name grafana --scope query
  sawmill keys revoke k3f9a...`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			name := fs.String("name", "", "name of the new key (create)")
			scope := fs.String("scope", "ingest,query", "comma-separated scopes of the new key: ingest, query, admin (create)")
			return func(args []string) error {
				if len(args) == 0 {
					return usagef("keys: want list, create or revoke")
				}
				switch args[0] {
				case "list", "ls":
					if len(args) > 1 {
						return usagef("keys list: unexpected argument %q", args[1])
					}
					return c.keysList()
				case "create", "new":
					if len(args) > 1 {
						return usagef("keys create: unexpected argument %q (name with --name)", args[1])
					}
					if *name == "" {
						return usagef("keys create: --name is required")
					}
					return c.keysCreate(*name, splitList(*scope))
				case "revoke", "delete", "rm":
					if len(args) != 2 {
						return usagef("keys revoke: want one key id")
					}
					return c.keysRevoke(args[1])
				}
				return usagef("keys: unknown action %q: want list, create or revoke", args[0])
			}
		},
	}
}

// apiKey is an ApiKey of the keys API.
type apiKey struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at"`
}

func (c *cli) keysList() error {
	bearer, err := c.credential(false)
	if err != nil {
		return err
	}
	var out struct {
		Keys []apiKey `json:"keys"`
	}
	raw, err := c.call(request{method: "GET", path: "/v1/keys", bearer: bearer}, &out)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED")
	for _, k := range out.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, orDash(k.Name), strings.Join(k.Scopes, ","), orDash(k.CreatedAt))
	}
	return tw.Flush()
}

func (c *cli) keysCreate(name string, scopes []string) error {
	if len(scopes) == 0 {
		return usagef("keys create: --scope needs at least one of ingest, query, admin")
	}
	bearer, err := c.credential(false)
	if err != nil {
		return err
	}
	var out struct {
		Key    apiKey `json:"key"`
		Secret string `json:"secret"`
	}
	raw, err := c.call(request{method: "POST", path: "/v1/keys", bearer: bearer,
		body: map[string]any{"name": name, "scopes": scopes}}, &out)
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "Created key %s (%s, scopes %s). The secret is shown only once:\n\n  %s\n",
		out.Key.ID, out.Key.Name, strings.Join(out.Key.Scopes, ","), out.Secret)
	return nil
}

func (c *cli) keysRevoke(id string) error {
	bearer, err := c.credential(false)
	if err != nil {
		return err
	}
	raw, err := c.call(request{method: "DELETE", path: "/v1/keys/" + url.PathEscape(id), bearer: bearer}, nil)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "Revoked key %s.\n", id)
	return nil
}

// splitList splits "a, b,,c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
