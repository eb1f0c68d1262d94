package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// tokenSet is one immutable version of the token file. Requests read it through an atomic pointer,
// so a reload never blocks or tears a request.
type tokenSet struct {
	byHash map[[sha256.Size]byte]*token
}

// token is an entry of the file, ready for the hot path: its principal and counters are built once
// per reload, not per request.
type token struct {
	name      string
	hash      [sha256.Size]byte
	principal server.Principal
	notAfter  time.Time // zero: no expiry
	signals   []layout.Signal
	ingest    bool // the token may send at all (tokenfile.PermissionIngest)
	accepted  counter
}

// lookup finds the entry for a presented token.
//
// Why this is constant-time where it matters: the secret is the token, and what is compared is
// its SHA-256. The map lookup's timing depends on the presented token's hash, which an attacker
// already knows, and on how far it matches stored hashes; learning that a guess's hash shares a
// prefix with a stored hash reveals nothing usable, since producing a token for a chosen hash is a
// preimage attack. The final comparison is nonetheless done with subtle.ConstantTimeCompare, so no
// byte-by-byte comparison of secret-derived data is left for a reviewer to worry about.
func (s *tokenSet) lookup(presented string) *token {
	h := sha256.Sum256([]byte(presented))
	t := s.byHash[h]
	if t == nil || subtle.ConstantTimeCompare(t.hash[:], h[:]) != 1 {
		return nil
	}
	return t
}

// parseTokenFile checks the whole file (tokenfile.Parse) and readies it for the hot path.
func parseTokenFile(raw []byte, m *metrics) (*tokenSet, error) {
	f, err := tokenfile.Parse(raw)
	if err != nil {
		return nil, err
	}
	set := &tokenSet{byHash: make(map[[sha256.Size]byte]*token, len(f.Tokens))}
	for _, e := range f.Tokens {
		var hash [sha256.Size]byte
		hex.Decode(hash[:], []byte(e.SHA256))           // Parse checked it
		signals, _ := tokenfile.ParseSignals(e.Signals) // Parse checked them
		label := "token:" + e.Name
		t := &token{
			name:      e.Name,
			hash:      hash,
			principal: server.Principal{Name: label, MetricLabel: label},
			signals:   signals,
			ingest:    e.Allows(tokenfile.PermissionIngest),
		}
		if e.NotAfter != nil {
			t.notAfter = *e.NotAfter
		}
		set.byHash[hash] = t
	}
	// Series are created only for a file that was accepted, so a rejected one leaves no trace.
	for _, t := range set.byHash {
		t.accepted = m.counter(t.principal.MetricLabel, resultAccepted)
	}
	return set, nil
}

// tokenFile keeps the current tokenSet in step with the file on disk.
//
// It polls: every interval it reads the file and re-parses it if the bytes changed. Polling the
// content (rather than watching inotify events or comparing mtimes) is what stays correct for a
// Kubernetes Secret volume, where the file is a symlink through ..data that the kubelet swaps
// atomically to a new directory: no event lands on the watched path itself, and the new file's
// mtime may equal the old one's. The file is small, so reading it twice a second costs nothing.
//
// A file that cannot be read or parsed leaves the previous set in force: an editor that writes in
// place, or a file that is briefly missing, must not lock every client out. The error is logged
// until the file is fixed.
type tokenFile struct {
	path    string
	metrics *metrics
	log     *slog.Logger
	current atomic.Pointer[tokenSet]
	// raw is the content of the file the current set came from; lastErr the last error logged.
	// Only the polling goroutine touches them.
	raw     []byte
	lastErr string
}

func loadTokenFile(path string, m *metrics, log *slog.Logger) (*tokenFile, error) {
	f := &tokenFile{path: path, metrics: m, log: log}
	raw, err := tokenfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	set, err := parseTokenFile(raw, m)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	f.raw = raw
	f.current.Store(set)
	log.Info("bearer tokens loaded", "file", path, "tokens", len(set.byHash))
	return f, nil
}

func (f *tokenFile) watch(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.reload()
		}
	}
}

// reload re-reads the file and swaps in a new set if its content changed.
func (f *tokenFile) reload() {
	raw, err := tokenfile.Read(f.path)
	if err == nil && bytes.Equal(raw, f.raw) {
		return
	}
	var set *tokenSet
	if err == nil {
		set, err = parseTokenFile(raw, f.metrics)
	}
	if err != nil {
		if msg := err.Error(); msg != f.lastErr {
			f.lastErr = msg
			f.log.Error("token file not reloaded: the previous tokens stay in force until it is fixed",
				"file", f.path, "error", msg, "tokens", len(f.current.Load().byHash))
		}
		return
	}
	old := f.current.Swap(set)
	f.raw, f.lastErr = raw, ""
	added, removed := diffNames(old, set)
	for _, name := range removed {
		f.metrics.forget("token:" + name)
	}
	f.log.Info("token file reloaded", "file", f.path, "tokens", len(set.byHash),
		"added", strings.Join(added, ","), "removed", strings.Join(removed, ","))
}

// diffNames lists the token names that a reload added and removed, for the log.
func diffNames(old, cur *tokenSet) (added, removed []string) {
	names := func(s *tokenSet) map[string]bool {
		m := make(map[string]bool, len(s.byHash))
		for _, t := range s.byHash {
			m[t.name] = true
		}
		return m
	}
	o, c := names(old), names(cur)
	for n := range c {
		if !o[n] {
			added = append(added, n)
		}
	}
	for n := range o {
		if !c[n] {
			removed = append(removed, n)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}
