package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// defaultURL is where "sawmill dev" listens.
const defaultURL = "http://127.0.0.1:8080"

// clientConfig is what login and signup store: where the service is and the
// session token. The file is written with mode 0600.
type clientConfig struct {
	URL       string `json:"url"`
	Token     string `json:"token"`
	TenantID  string `json:"tenant_id,omitempty"`
	Email     string `json:"email,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// configPath is $SAWMILL_CONFIG, else <user config dir>/sawmill/config.json
// ($XDG_CONFIG_HOME or ~/.config).
func configPath(getenv func(string) string) (string, error) {
	if p := getenv("SAWMILL_CONFIG"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("no config file: set SAWMILL_CONFIG or HOME")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "sawmill", "config.json"), nil
}

// loadConfig reads the config file; a missing file is an empty config.
func (c *cli) loadConfig() (clientConfig, error) {
	var cfg clientConfig
	b, err := os.ReadFile(c.config)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("read config %s: %w", c.config, err)
	}
	return cfg, nil
}

// saveConfig writes the config file atomically with mode 0600 (its
// directory 0700).
func (c *cli) saveConfig(cfg clientConfig) error {
	if err := os.MkdirAll(filepath.Dir(c.config), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.config), ".config-*.json")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(append(b, '\n'))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.config)
	}
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// baseURL is --url / SAWMILL_URL, else the logged-in URL, else the dev
// default.
func (c *cli) baseURL() string {
	if c.url != "" {
		return c.url
	}
	if cfg, err := c.loadConfig(); err == nil && cfg.URL != "" {
		return cfg.URL
	}
	return defaultURL
}

// credential picks the bearer: for data commands (preferKey) the API key
// when one is given, else the session; for account commands the session,
// else the key.
func (c *cli) credential(preferKey bool) (string, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return "", err
	}
	session := cfg.Token
	if c.url != "" && cfg.URL != "" && c.url != cfg.URL {
		session = "" // the session belongs to another service
	}
	switch {
	case preferKey && c.key != "":
		return c.key, nil
	case session != "":
		return session, nil
	case c.key != "":
		return c.key, nil
	}
	return "", errors.New("not logged in: run \"sawmill login\" or pass --key (SAWMILL_API_KEY)")
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
	// retryAfter is the answer's Retry-After, 0 without one.
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("%s (HTTP %d", msg, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	s += ")"
	switch e.Status {
	case http.StatusUnauthorized:
		s += ": check --key / SAWMILL_API_KEY, or run \"sawmill login\""
	case http.StatusForbidden:
		if e.Code == "permission_denied" {
			s += ": the credential lacks the scope this needs"
		}
	}
	return s
}

// readAPIError turns a non-2xx answer into an *apiError.
func readAPIError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &apiError{Status: resp.StatusCode}
	if json.Unmarshal(raw, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		e.retryAfter = retryAfter(ra)
		e.Message += " (retry after " + ra + "s)"
	}
	return e
}

// request is one API call.
type request struct {
	method, path, bearer string
	body                 any // nil, []byte (sent as-is) or a value sent as JSON
	header               http.Header
}

// send performs r and returns the response for the caller to read; a
// non-2xx answer is returned as an *apiError (and the body closed).
func (c *cli) send(r request) (*http.Response, error) {
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.ctx, r.method, c.baseURL()+r.path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, c.baseURL()+r.path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

// call performs r and returns the raw JSON answer; out, when not nil,
// receives it decoded.
func (c *cli) call(r request, out any) ([]byte, error) {
	resp, err := c.send(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
		}
	}
	return raw, nil
}

// printJSON writes raw JSON compacted onto one line.
func (c *cli) printJSON(raw []byte) {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(bytes.TrimSpace(raw))
	}
	b.WriteByte('\n')
	c.stdout.Write(b.Bytes())
}

// retryAfter is the wait an answer asks for, within [1s, 60s].
func retryAfter(h string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || s < 1 {
		return time.Second
	}
	return min(time.Duration(s)*time.Second, time.Minute)
}
