//go:build cgo && !duckdb_arrow

package lakehouse

// The lakehouse hands rows to DuckDB as Arrow records, through duckdb-go's Arrow API, which is
// compiled only with the build tag duckdb_arrow. Build and test with -tags duckdb_arrow (the
// Makefile does); without it, this line names what is missing.
var _ = build_with_tags_duckdb_arrow
