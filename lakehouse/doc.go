// Package lakehouse turns the lake's stored OTLP blocks into SQL tables: it materializes them
// into Parquet parts beside the blocks (Materialize), merges an hour's small parts into one
// (Compact), and answers SQL over the parts plus the blocks no part covers yet (Open,
// Session.Query), with embedded DuckDB.
//
// It never rewrites or deletes a block: blocks are the ground truth, and every part is a copy of
// some of them. Parts are written create-only; the one thing it deletes is a part that Compact has
// replaced. Every block's rows appear exactly once in a query: parts record the block ids they
// hold, package parts decides which part a block is read from, and a block no part covers is
// decoded.
//
// Blocks are stored alone (blocks/) or packed into segments (segments/, storage v2), and a lake
// holds both. The catalog (scanStore) lists both layouts and keeps one copy of each block id, so
// the same block in a standalone object and in two segments still counts once; a segment that is
// not intact is left out whole and reported.
//
// # Compaction, and readers listing at the same time
//
// Compact takes a table hour's parts, writes one part holding the union of their block sets
// (named by its hash, like every part), waits for it to be durable, and only then deletes the
// parts it replaces. Two facts make that safe for a reader that lists the store, then reads what
// it listed:
//
//   - Any set of parts gives the right answer. A reader reads each block from one of the parts
//     it listed (parts.Choose: bigger parts first, so a merged part beats the parts it replaces),
//     and decodes each block none of them holds, from the block itself, which is never deleted.
//     So listing the merged part beside the parts it replaces counts once; listing neither (a
//     directory listing racing the create and the delete) decodes those blocks, and counts once.
//   - The one thing that can go wrong is a part that was listed and is gone when read. A reader
//     then throws its plan away and lists again (Open, up to maxPlans times, then fails rather
//     than answer); the new listing shows the merged part, which was durable before anything was
//     deleted. Parts are read into a local cache before the query runs, so a part deleted after
//     that no longer matters; the cache is content-addressed, so a copy never goes stale.
//
// There is no grace period recorded anywhere: a persistent "superseded at" mark would be a second
// kind of object to keep consistent, and readers hold a listing only for as long as it takes to
// download it. Compact can wait in process between writing and deleting (--grace) to spare readers
// a second plan; nothing depends on it. A compaction killed between writing and deleting leaves
// overlapping parts, which readers already handle, and the next compaction finds the merged part
// there (its name is the hash of the same union) and only deletes. Two compactions at once write
// the same part or two parts of which one holds the other; either way the next run leaves one.
//
// Engines that read tables/ directly (DuckDB's read_parquet, Athena, Trino; docs/lakehouse.md)
// have no block sets to choose by: they double count overlapping parts, which exist while a
// compaction is between writing and deleting, after one was killed there, or after two
// materializations raced, until the next compaction. They do not see blocks no part covers yet.
//
// The files that need DuckDB build only with cgo; packages rows and parts hold the pure rules.
package lakehouse
