//go:build cgo

package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// StoreError is a failure to reach or read the store, as opposed to a bad block or a bad query:
// the command line answers it with exit status 3.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

func storeErr(err error) error {
	var se *StoreError
	if err == nil || errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	return &StoreError{Err: err}
}

// catalog is what a listing of the store found in a window: blocks by hour and signal, undated
// blocks, and parts by table.
type catalog struct {
	blocks  map[time.Time]map[layout.Signal][]layout.BlockRef
	undated map[layout.Signal][]layout.BlockRef
	parts   map[string][]layout.PartRef // by table name
}

// scanStore lists the blocks and parts whose hour overlaps the window, one listing per signal or
// table and day. withUndated also lists the blocks that carry no time.
func scanStore(ctx context.Context, st store.Store, w parts.Window, withUndated bool) (*catalog, error) {
	c := &catalog{
		blocks:  map[time.Time]map[layout.Signal][]layout.BlockRef{},
		undated: map[layout.Signal][]layout.BlockRef{},
		parts:   map[string][]layout.PartRef{},
	}
	for _, sig := range layout.Signals {
		for _, day := range w.Days() {
			prefix := layout.BlockDayListPrefix(sig, day)
			err := st.List(ctx, prefix, func(key string) error {
				ref, ok := layout.ParseBlockKey(key)
				hour, dated := ref.PartitionTime()
				if ok && dated && w.Contains(hour) {
					if c.blocks[hour] == nil {
						c.blocks[hour] = map[layout.Signal][]layout.BlockRef{}
					}
					c.blocks[hour][sig] = append(c.blocks[hour][sig], ref)
				}
				return nil
			})
			if err != nil {
				return nil, storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
			}
		}
		if withUndated {
			prefix := layout.UndatedBlockListPrefix(sig)
			err := st.List(ctx, prefix, func(key string) error {
				if ref, ok := layout.ParseBlockKey(key); ok && ref.Partition == layout.Undated {
					c.undated[sig] = append(c.undated[sig], ref)
				}
				return nil
			})
			if err != nil {
				return nil, storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
			}
		}
	}
	for _, t := range rows.Tables {
		refs, err := listParts(ctx, st, t, w)
		if err != nil {
			return nil, err
		}
		if len(refs) > 0 {
			c.parts[t.Name] = refs
		}
	}
	// Listings come in no particular order; sorting makes every later step deterministic.
	for _, bySignal := range c.blocks {
		for _, refs := range bySignal {
			sortBlocks(refs)
		}
	}
	for _, refs := range c.undated {
		sortBlocks(refs)
	}
	return c, nil
}

// listHourParts lists every table's parts of one hour.
func listHourParts(ctx context.Context, st store.Store, hour time.Time) ([]layout.PartRef, error) {
	var all []layout.PartRef
	for _, t := range rows.Tables {
		refs, err := listParts(ctx, st, t, parts.Window{Since: hour, Until: hour.Add(time.Hour)})
		if err != nil {
			return nil, err
		}
		all = append(all, refs...)
	}
	return all, nil
}

// listParts lists a table's parts whose hour overlaps the window, sorted by key.
func listParts(ctx context.Context, st store.Store, t *rows.Table, w parts.Window) ([]layout.PartRef, error) {
	var refs []layout.PartRef
	for _, day := range w.Days() {
		prefix := layout.PartDayListPrefix(t.Name, day)
		err := st.List(ctx, prefix, func(key string) error {
			if ref, ok := layout.ParsePartKey(key); ok && ref.Table == t.Name && w.Contains(ref.Hour) {
				refs = append(refs, ref)
			}
			return nil
		})
		if err != nil {
			return nil, storeErr(fmt.Errorf("list %s in %s: %w", prefix, st, err))
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	return refs, nil
}

func sortBlocks(refs []layout.BlockRef) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
}

// hours lists the hours that have blocks, oldest first.
func (c *catalog) hours() []time.Time {
	hs := make([]time.Time, 0, len(c.blocks))
	for h := range c.blocks {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Before(hs[j]) })
	return hs
}

// blocksFor lists the blocks whose rows a table holds: its signal's blocks, or every block for
// processes.
func blocksFor(bySignal map[layout.Signal][]layout.BlockRef, t *rows.Table) []layout.BlockRef {
	var out []layout.BlockRef
	for _, sig := range layout.Signals {
		if t == &rows.Processes || rows.TableOf(sig) == t {
			out = append(out, bySignal[sig]...)
		}
	}
	return out
}
