package envflag

import (
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	env := map[string]string{"SAWMILL_HTTP_ADDR": ":9", "SAWMILL_DATA_DIR": "/d", "SAWMILL_BATCH_SIZE": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("http.addr", ":8080", "")
	dir := fs.String("data-dir", "", "")
	other := fs.String("grpc.addr", ":4317", "")
	if err := Parse(fs, []string{"-data-dir=/cli"}, "SAWMILL_", lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != ":9" || *dir != "/cli" || *other != ":4317" {
		t.Fatalf("got addr=%q dir=%q other=%q", *addr, *dir, *other)
	}

	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("batch-size", 1, "")
	if err := Parse(fs, nil, "SAWMILL_", lookup); err == nil {
		t.Fatal("bad integer in environment accepted")
	}
}
