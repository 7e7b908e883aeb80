package kvrecord

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// rec is a record as the services store them: JSON with "id" and "name".
type rec struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	N    int    `json:"n,omitempty"`
}

// bucket returns a fresh KV bucket on an in-process NATS server.
func bucket(tb testing.TB) jetstream.KeyValue {
	tb.Helper()
	n := testenv.StartNATS(tb)
	nc, err := nats.Connect(n.URL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "records", History: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return kv
}

// ctxT is a context bounded by a generous timeout, so that a hung server
// fails the test instead of hanging it.
func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// code is the apierr code of err ("" for nil).
func code(err error) apierr.Code {
	if err == nil {
		return ""
	}
	return apierr.From(err).Code
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"  Errors ", "Errors", ""},
		{strings.Repeat("é", MaxNameChars), strings.Repeat("é", MaxNameChars), ""},
		{"", "", "name must be 1 to 100 characters"},
		{"   ", "", "name must be 1 to 100 characters"},
		{strings.Repeat("x", MaxNameChars+1), "", "name must be 1 to 100 characters"},
		{"a\xffb", "", "name must be 1 to 100 characters"},
		{"a\u0007b", "", "name must not contain control characters"},
		{"a\nb", "", "name must not contain control characters"},
	}
	for _, tc := range tests {
		got, err := CheckName("name", tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("CheckName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (code(err) != apierr.Invalid || apierr.From(err).Message != tc.err) {
			t.Errorf("CheckName(%q) error %v; want Invalid %q", tc.in, err, tc.err)
		}
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"r0AZ9-_", true},
		{strings.Repeat("a", MaxIDLen), true},
		{NewID("s"), true},
		{"", false},
		{strings.Repeat("a", MaxIDLen+1), false},
		{"a.b", false},
		{"*", false},
		{">", false},
		{"a b", false},
		{"é", false},
	}
	for _, tc := range tests {
		err := CheckID("rule", tc.id)
		if tc.ok != (err == nil) {
			t.Errorf("CheckID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if !tc.ok && (code(err) != apierr.Invalid || !strings.HasPrefix(apierr.From(err).Message, "invalid rule id ")) {
			t.Errorf("CheckID(%q) error %v", tc.id, err)
		}
	}
}

func TestKeys(t *testing.T) {
	if a, b := NewID("r"), NewID("r"); a == b || !strings.HasPrefix(a, "r") {
		t.Fatalf("NewID: %q, %q", a, b)
	}
	tests := []struct {
		key, tenant, id string
		ok              bool
	}{
		{Key("t1", "r1"), "t1", "r1", true},
		{NameKey("t1", "Errors"), "", "", false},
		{"t1", "", "", false},
	}
	for _, tc := range tests {
		tenant, id, ok := SplitKey(tc.key)
		if ok != tc.ok || ok && (tenant != tc.tenant || id != tc.id) {
			t.Errorf("SplitKey(%q) = %q, %q, %v", tc.key, tenant, id, ok)
		}
	}
	if NameKey("t1", "Errors") != NameKey("t1", "eRRORS") || NameKey("t1", "a") == NameKey("t2", "a") || NameKey("t1", "a") == NameKey("t1", "b") {
		t.Fatal("NameKey: names must compare case-insensitively, per tenant")
	}
	if k := NameKey("t1", "x"); strings.Count(k, ".") != 2 || !strings.HasPrefix(k, "t1.name.") {
		t.Fatalf("NameKey = %q, want three tokens under the tenant", k)
	}
}

func TestLoadStore(t *testing.T) {
	kv, ctx := bucket(t), ctxT(t)
	key := Key("t1", "r1")
	var r rec
	if _, found, err := Load(ctx, kv, key, &r); found || err != nil {
		t.Fatalf("Load missing = %v, %v", found, err)
	}
	rev1, err := Store(ctx, kv, key, rec{ID: "r1", Name: "a"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Store(ctx, kv, key, rec{ID: "r1", Name: "b"}, 0); !Conflict(err) {
		t.Fatalf("create over an existing key: %v, want a conflict", err)
	}
	rev2, err := Store(ctx, kv, key, rec{ID: "r1", Name: "c"}, rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("update = %d, %v", rev2, err)
	}
	if _, err := Store(ctx, kv, key, rec{ID: "r1", Name: "d"}, rev1); !Conflict(err) {
		t.Fatalf("update at a stale revision: %v, want a conflict", err)
	}
	rev, found, err := Load(ctx, kv, key, &r)
	if err != nil || !found || rev != rev2 || r.Name != "c" {
		t.Fatalf("Load = %d %v %v %+v", rev, found, err, r)
	}
	if _, err := kv.Put(ctx, Key("t1", "bad"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(ctx, kv, Key("t1", "bad"), &r); err == nil || !strings.Contains(err.Error(), "decode t1.bad") {
		t.Fatalf("Load bad JSON: %v", err)
	}
	if _, err := Store(ctx, kv, key, func() {}, rev2); err == nil || Conflict(err) {
		t.Fatalf("Store unencodable: %v", err)
	}
	if Conflict(nil) || Conflict(errors.New("other")) {
		t.Fatal("Conflict true for a non-conflict")
	}
}

func TestStoreDeleteRecord(t *testing.T) {
	kv, ctx := bucket(t), ctxT(t)
	rev1, err := StoreRecord(ctx, kv, "t1", "r1", rec{ID: "r1", Name: "a"}, 0, "rule")
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := StoreRecord(ctx, kv, "t1", "r1", rec{ID: "r1", Name: "b"}, rev1, "rule")
	if err != nil {
		t.Fatal(err)
	}
	conflict := `rule "r1" changed concurrently; retry`
	tests := []struct {
		name string
		err  error
		want apierr.Code
		msg  string
	}{
		{"create existing", second(StoreRecord(ctx, kv, "t1", "r1", rec{}, 0, "rule")), apierr.Conflict, conflict},
		{"update stale", second(StoreRecord(ctx, kv, "t1", "r1", rec{}, rev1, "rule")), apierr.Conflict, conflict},
		{"unencodable", second(StoreRecord(ctx, kv, "t1", "r1", func() {}, rev2, "rule")), apierr.Internal, "internal error"},
		{"delete stale", DeleteRecord(ctx, kv, "t1", "r1", rev1, "rule"), apierr.Conflict, conflict},
		{"delete", DeleteRecord(ctx, kv, "t1", "r1", rev2, "rule"), "", ""},
	}
	for _, tc := range tests {
		if code(tc.err) != tc.want || tc.err != nil && apierr.From(tc.err).Message != tc.msg {
			t.Errorf("%s: %v, want %s %q", tc.name, tc.err, tc.want, tc.msg)
		}
	}
	if _, found, err := Load(ctx, kv, Key("t1", "r1"), &rec{}); found || err != nil {
		t.Fatalf("deleted record: found %v, %v", found, err)
	}
}

// second is the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

func TestListAndLoad(t *testing.T) {
	kv, ctx := bucket(t), ctxT(t)
	for _, k := range []struct{ tenant, id, name string }{
		{"t1", "r2", "beta"}, {"t1", "r1", "Alpha"}, {"t1", "r3", "alpha"}, {"t2", "r9", "other"},
	} {
		if _, err := Store(ctx, kv, Key(k.tenant, k.id), rec{ID: k.id, Name: k.name}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := (Names{KV: kv, What: "a rule"}).Claim(ctx, "t1", "beta", "r2"); err != nil {
		t.Fatal(err)
	}
	ids, err := ListIDs(ctx, kv, "t1")
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"r1", "r2", "r3"}) {
		t.Fatalf("ListIDs = %v, %v (name claims and other tenants must not appear)", ids, err)
	}
	if ids, err := ListIDs(ctx, kv, "t3"); err != nil || len(ids) != 0 {
		t.Fatalf("ListIDs of a tenant without records = %v, %v", ids, err)
	}
	recs, err := LoadAll[rec](ctx, kv, "t1", "rule")
	if err != nil {
		t.Fatal(err)
	}
	SortByName(recs, func(r *rec) (string, string) { return r.Name, r.ID })
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, []string{"r1", "r3", "r2"}) {
		t.Fatalf("LoadAll sorted by name = %v", got)
	}

	tests := []struct {
		tenant, id string
		want       apierr.Code
		msg        string
	}{
		{"t1", "r1", "", ""},
		{"t2", "r1", apierr.NotFound, `no rule "r1"`},
		{"t1", "nope", apierr.NotFound, `no rule "nope"`},
		{"t1", "r1.x", apierr.Invalid, `invalid rule id "r1.x"`},
		{"t1", "*", apierr.Invalid, `invalid rule id "*"`},
	}
	for _, tc := range tests {
		r, rev, err := LoadRecord[rec](ctx, kv, tc.tenant, tc.id, "rule")
		if code(err) != tc.want || err != nil && apierr.From(err).Message != tc.msg {
			t.Errorf("LoadRecord(%s, %s) error %v, want %s %q", tc.tenant, tc.id, err, tc.want, tc.msg)
		}
		if err == nil && (r.ID != tc.id || rev == 0) {
			t.Errorf("LoadRecord(%s, %s) = %+v, %d", tc.tenant, tc.id, r, rev)
		}
	}
}

func TestNames(t *testing.T) {
	kv, ctx := bucket(t), ctxT(t)
	names := Names{KV: kv, What: "a saved search"}
	put := func(id, name string) {
		t.Helper()
		if _, err := kv.Put(ctx, Key("t1", id), []byte(`{"id":"`+id+`","name":"`+name+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	holder := func(name string) string {
		t.Helper()
		e, err := kv.Get(ctx, NameKey("t1", name))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(e.Value())
	}
	put("a", "Errors")
	if err := names.Claim(ctx, "t1", "Errors", "a"); err != nil {
		t.Fatal(err)
	}
	if err := names.Claim(ctx, "t1", "Errors", "a"); err != nil {
		t.Fatalf("claiming a held name again: %v", err)
	}
	// Taken, case-insensitively; the message quotes the holder's name.
	put("b", "errors")
	err := names.Claim(ctx, "t1", "errors", "b")
	if code(err) != apierr.Conflict || apierr.From(err).Message != `a saved search named "Errors" already exists` {
		t.Fatalf("claim of a taken name: %v", err)
	}
	// Another tenant has its own names.
	if err := names.Claim(ctx, "t2", "Errors", "a"); err != nil {
		t.Fatalf("same name, other tenant: %v", err)
	}
	// A renamed holder leaves a stale claim: taken over.
	put("a", "Renamed")
	if err := names.Claim(ctx, "t1", "errors", "b"); err != nil || holder("Errors") != "b" {
		t.Fatalf("take over from a renamed holder: %v, holder %q", err, holder("Errors"))
	}
	// A holder that is gone leaves a stale claim: taken over.
	if err := kv.Purge(ctx, Key("t1", "b")); err != nil {
		t.Fatal(err)
	}
	put("c", "ERRORS")
	if err := names.Claim(ctx, "t1", "ERRORS", "c"); err != nil || holder("errors") != "c" {
		t.Fatalf("take over from a deleted holder: %v, holder %q", err, holder("errors"))
	}
	// Release by someone else does nothing; by the holder frees the name.
	if err := names.Release(ctx, "t1", "errors", "b"); err != nil || holder("errors") != "c" {
		t.Fatalf("release by a non-holder: %v, holder %q", err, holder("errors"))
	}
	if err := names.Release(ctx, "t1", "Errors", "c"); err != nil || holder("errors") != "" {
		t.Fatalf("release by the holder: %v, holder %q", err, holder("errors"))
	}
	if err := names.Release(ctx, "t1", "never claimed", "c"); err != nil {
		t.Fatalf("release of an unclaimed name: %v", err)
	}
}

// Racing claims of one name by live records: exactly one wins, the others
// get Conflict.
func TestNamesRace(t *testing.T) {
	kv, ctx := bucket(t), ctxT(t)
	names := Names{KV: kv, What: "an alert rule"}
	const n = 8
	for range n {
		id := NewID("r")
		if _, err := Store(ctx, kv, Key("t1", id), rec{ID: id, Name: "Disk"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := ListIDs(ctx, kv, "t1")
	if err != nil || len(ids) != n {
		t.Fatalf("ListIDs = %v, %v", ids, err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = names.Claim(ctx, "t1", "disk", id) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch code(err) {
		case "":
			won++
		case apierr.Conflict:
		default:
			t.Fatalf("racing claim: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d claims won, want 1 (%v)", won, errs)
	}
}
