// Package lakehouse turns the lake's stored OTLP blocks into SQL tables: it materializes them
// into Parquet parts beside the blocks (Materialize) and answers SQL over the parts plus the
// blocks no part covers yet (Open, Session.Query), with embedded DuckDB.
//
// It only ever adds objects to the store, create-only, under tables/; it never rewrites or deletes
// a block or a part, so that a reader listing at the same time always sees a consistent lake.
// Every block's rows appear exactly once in a query: parts record the block ids they hold, and
// package parts decides which part a block is read from.
//
// The files that need DuckDB build only with cgo; packages rows and parts hold the pure rules.
package lakehouse
