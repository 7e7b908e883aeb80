// Command querybench measures search and aggregation latency on a realistic
// data set: N Django/Celery events of one tenant among 3N in all, spread
// over 24 hours, inserted straight into ClickHouse through pkg/store in
// large batches, then queried through the query service's Go API (with a
// real API key, as a client would): a rare full-text term, level:error, a
// request-id lookup, a per-minute timechart by level and p95 of duration_ms
// by path, each over the 24 hours, reporting p50 and p95.
//
//	go run ./bench/querybench                 # N = 1M (3M rows), private ClickHouse
//	go run ./bench/querybench -n 10000000     # the 10M of 30M
//	go run ./bench/querybench -clickhouse.addr 127.0.0.1:9000 -keep
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/chserver"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/services/query"
)

func main() {
	n := flag.Int("n", 1_000_000, "events of the measured tenant (3n are inserted in all)")
	addr := flag.String("clickhouse.addr", "", "ClickHouse native address; empty: start a private server")
	dataDir := flag.String("data-dir", "", "directory of the private server, kept after the run (with -reuse, query it again); empty: a temp dir, removed")
	db := flag.String("database", "querybench", "database to fill (it must hold no rows) or, with -reuse, to query")
	reuse := flag.Bool("reuse", false, "query the data a previous run left in -database instead of inserting")
	runs := flag.Int("runs", 20, "runs of each query")
	batch := flag.Int("batch", 200_000, "rows per insert")
	noBlooms := flag.Bool("no-text-blooms", false, "search without narrowing by the text blooms (query.Config.DisableTextBlooms), to measure what they buy")
	flag.Parse()
	if err := run(*n, *addr, *dataDir, *db, *reuse, *runs, *batch, *noBlooms); err != nil {
		log.Fatal(err)
	}
}

func run(n int, addr, dir, db string, reuse bool, runs, batch int, noBlooms bool) error {
	ctx := context.Background()
	if addr == "" {
		if dir == "" {
			tmp, err := os.MkdirTemp("", "querybench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		srv, err := chserver.Start(ctx, chserver.Config{Dir: dir})
		if err != nil {
			return fmt.Errorf("start clickhouse: %w", err)
		}
		defer srv.Stop()
		addr = srv.Addr()
	}
	st, err := store.Open(ctx, store.Config{Addr: addr, Database: db})
	if err != nil {
		return err
	}
	defer st.Close()
	// A new data set ends at the start of this hour; -reuse measures the
	// 24 hours the kept one covers.
	end := time.Now().UTC().Truncate(time.Hour)
	var requestIDs []string
	if !reuse {
		if requestIDs, err = fill(ctx, st, n, end.Add(-24*time.Hour), batch); err != nil {
			return err
		}
	} else {
		if err := st.Migrate(ctx); err != nil { // the schema of this build
			return err
		}
		if end, err = dataEnd(ctx, st); err != nil {
			return err
		}
		if requestIDs, err = sampleRequestIDs(ctx, st); err != nil {
			return err
		}
	}
	from := end.Add(-24 * time.Hour)
	svc, callCtx, err := service(st, query.Config{DisableTextBlooms: noBlooms})
	if err != nil {
		return err
	}
	search := func(q string) func(int) error {
		return func(int) error {
			_, err := svc.Search(callCtx, &sawmillv1.SearchRequest{Query: q, From: timestamppb.New(from), To: timestamppb.New(end), Limit: 100})
			return err
		}
	}
	cases := []struct {
		name string
		f    func(i int) error
	}{
		{"rare term, 24 h", search(rareTerm)},
		{"level:error, 24 h", search("level:error")},
		{"request_id lookup, 24 h", func(i int) error {
			if len(requestIDs) == 0 {
				return search("request_id:req-0000000000000000")(i)
			}
			return search("request_id:" + requestIDs[i%len(requestIDs)])(i)
		}},
		{"| timechart 1m count() by level, 24 h", search("| timechart 1m count() by level")},
		{"| stats p95(duration_ms) by http.path, 24 h", search("| stats p95(duration_ms) by http.path")},
	}
	fmt.Printf("%d events of the measured tenant, %d in all, over 24 h; %d runs each (first run discarded)\n", n, 3*n, runs)
	for _, c := range cases {
		var lat []time.Duration
		for i := range runs + 1 {
			t := time.Now()
			if err := c.f(i); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i > 0 {
				lat = append(lat, time.Since(t))
			}
		}
		slices.Sort(lat)
		fmt.Printf("%-45s p50 %8v  p95 %8v\n", c.name, lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*95/100].Round(100*time.Microsecond))
	}
	return nil
}

// fill recreates the logs table and inserts 3n rows, returning request ids
// of the measured tenant.
func fill(ctx context.Context, st *store.Store, n int, from time.Time, batch int) ([]string, error) {
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	// Start from an empty table: refuse to fill one that holds rows.
	rows, err := st.Query(ctx, "SELECT count() FROM logs")
	if err != nil {
		return nil, err
	}
	var have uint64
	for rows.Next() {
		if err := rows.Scan(&have); err != nil {
			rows.Close()
			return nil, err
		}
	}
	rows.Close()
	if have > 0 {
		return nil, fmt.Errorf("database %s already holds %d rows: use -reuse, or another -database", st.Database(), have)
	}
	g := newGenerator(1, from, 24*time.Hour, 3*n)
	t := time.Now()
	for done := 0; done < 3*n; {
		k := min(batch, 3*n-done)
		if err := st.Insert(ctx, g.batch(k)); err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
		done += k
	}
	fmt.Printf("inserted %d rows in %v (%.0f rows/s)\n", 3*n, time.Since(t).Round(time.Second), float64(3*n)/time.Since(t).Seconds())
	return g.lastRequests, nil
}

// service returns a query service over st and a context carrying an API
// key of the measured tenant with the query scope.
func service(st *store.Store, cfg query.Config) (*query.Service, context.Context, error) {
	table := auth.NewKeyTable()
	id, secret, full := auth.NewKeySecret()
	b, err := json.Marshal(auth.Key{ID: id, TenantID: "bench0", Scopes: []auth.Scope{auth.ScopeQuery}, Hash: auth.HashSecret(secret)})
	if err != nil {
		return nil, nil, err
	}
	if err := table.Apply(auth.KVKey("bench0", id), b, false); err != nil {
		return nil, nil, err
	}
	svc := query.New(cfg, slog.New(slog.DiscardHandler), &auth.Authenticator{Keys: table, MissWait: -1}, st)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+full))
	return svc, ctx, nil
}

// dataEnd returns the end of a previous run's 24 hours: the hour after its
// newest row.
func dataEnd(ctx context.Context, st *store.Store) (time.Time, error) {
	rows, err := st.Query(ctx, "SELECT max(ts) FROM logs WHERE tenant_id = 'bench0'")
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var newest time.Time
	for rows.Next() {
		if err := rows.Scan(&newest); err != nil {
			return time.Time{}, err
		}
	}
	if newest.IsZero() || newest.Unix() <= 0 {
		return time.Time{}, fmt.Errorf("database %s holds no rows of the measured tenant: run without -reuse first", st.Database())
	}
	return newest.UTC().Truncate(time.Hour).Add(time.Hour), rows.Err()
}

// sampleRequestIDs returns request ids of the measured tenant from a
// previous run's data (-reuse).
func sampleRequestIDs(ctx context.Context, st *store.Store) ([]string, error) {
	rows, err := st.Query(ctx, "SELECT request_id FROM logs WHERE tenant_id = 'bench0' AND request_id != '' AND cityHash64(request_id) % 1000 = 0 LIMIT 1000")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
