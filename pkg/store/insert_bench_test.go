package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkInsert inserts batches of 5,000 realistic rows, as the writer
// does, from 20 tenants, reporting rows/s and ns/row; bytes are the rows'
// billing size.
func BenchmarkInsert(b *testing.B) {
	const batch = 5000
	s := migratedStore(b)
	batches := make([][]Row, 8)
	var size int64
	for i := range batches {
		batches[i] = make([]Row, 0, batch)
		for t := range 20 {
			batches[i] = append(batches[i], realisticRows(uint64(i*20+t), fmt.Sprintf("tenant-%02d", t), uint64(i*batch+t*batch/20), batch/20, 50)...)
		}
	}
	for _, r := range batches[0] {
		size += int64(r.Size())
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Insert(ctx, batches[i%len(batches)]); err != nil {
			b.Fatalf("insert: %v", err)
		}
	}
	rows := float64(b.N) * batch
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rows, "ns/row")
}

// BenchmarkNewColumns measures the client-side part of Insert: turning rows
// into columns.
func BenchmarkNewColumns(b *testing.B) {
	rows := realisticRows(1, "acme", 1, 5000, 50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newColumns(rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// BenchmarkBuildBlooms measures the other client-side part of Insert: the
// text blooms of a writer's batch (5,000 rows of 20 tenants).
func BenchmarkBuildBlooms(b *testing.B) {
	var rows []Row
	for t := range 20 {
		rows = append(rows, realisticRows(uint64(t), fmt.Sprintf("tenant-%02d", t), 1, 250, 50)...)
	}
	b.ReportAllocs()
	for b.Loop() {
		buildBlooms(rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// BenchmarkAppendColumns measures the client-side part of Insert that
// hands columns to the driver (5,000 rows, not sent).
func BenchmarkAppendColumns(b *testing.B) {
	s := migratedStore(b)
	rows := realisticRows(1, "acme", 1, 5000, 50)
	ctx := context.Background()
	for b.Loop() {
		cols, err := newColumns(rows)
		if err != nil {
			b.Fatal(err)
		}
		batch, err := s.conn.PrepareBatch(ctx, insertSQL)
		if err != nil {
			b.Fatal(err)
		}
		if err := cols.appendTo(batch); err != nil {
			b.Fatal(err)
		}
		if err := batch.Abort(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}
