package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/ingester/layout"
	"github.com/telemetrylake/telemetrylake/ingester/server"
)

// TokenPrefix starts every TelemetryLake bearer token, so that a leaked one is easy to recognise
// (secret scanners) and the chain can tell it from a JWT without trying both.
const TokenPrefix = "tlk_"

const (
	tokenRandomBytes = 32
	// tokenLength is the prefix plus 32 bytes in unpadded base64url.
	tokenLength = len(TokenPrefix) + 43
	// maxTokenFileBytes bounds what a reload reads; ~10,000 entries fit.
	maxTokenFileBytes = 4 << 20
)

// TokenFile is the format of the bearer-token file. It holds hashes only, never a token:
//
//	tokens:
//	- name: checkout
//	  sha256: 5b2c…            # hex SHA-256 of the whole token, "tlk_" included
//	  notAfter: "2027-01-01T00:00:00Z"
//	  signals: [logs, traces]
type TokenFile struct {
	Tokens []TokenEntry `json:"tokens"`
}

// TokenEntry is one accepted token.
type TokenEntry struct {
	// Name identifies the token's holder in logs and is its metrics label ("token:<name>"):
	// letters, digits, '.', '_' and '-', at most 63 characters, unique in the file.
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `json:"sha256"`
	// NotAfter, if set, is when the token stops working (RFC 3339).
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// Signals the token may send; empty means all.
	Signals []string `json:"signals,omitempty"`
}

var tokenNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// NewToken returns a fresh random token: "tlk_" and 32 bytes from crypto/rand in base64url.
func NewToken() (string, error) {
	b := make([]byte, tokenRandomBytes)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the hex SHA-256 that the token file stores for a token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

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

// parseTokenFile checks the whole file; one bad entry rejects it all, so that a typo never
// silently drops (or keeps) a token.
func parseTokenFile(raw []byte, m *metrics) (*tokenSet, error) {
	var f TokenFile
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, err
	}
	set := &tokenSet{byHash: make(map[[sha256.Size]byte]*token, len(f.Tokens))}
	names := map[string]bool{}
	for i, e := range f.Tokens {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("token %q appears twice: names must be unique (they label logs and metrics)", e.Name)
		}
		names[e.Name] = true
		var hash [sha256.Size]byte
		hex.Decode(hash[:], []byte(e.SHA256)) // Validate checked it
		if _, dup := set.byHash[hash]; dup {
			return nil, fmt.Errorf("token %q has the same sha256 as another entry", e.Name)
		}
		signals, _ := parseSignals(e.Signals) // Validate checked them
		label := "token:" + e.Name
		t := &token{
			name:      e.Name,
			hash:      hash,
			principal: server.Principal{Name: label, MetricLabel: label},
			signals:   signals,
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

// Validate checks one entry on its own; `ingester token new` uses it too.
func (e TokenEntry) Validate() error {
	if !tokenNamePattern.MatchString(e.Name) {
		return fmt.Errorf("token name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", e.Name)
	}
	if len(e.SHA256) != hex.EncodedLen(sha256.Size) || !isHex(e.SHA256) {
		return fmt.Errorf("token %q: sha256 must be 64 hex digits, the SHA-256 of the token (see `ingester token new`)", e.Name)
	}
	if _, err := parseSignals(e.Signals); err != nil {
		return fmt.Errorf("token %q: %w", e.Name, err)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func parseSignals(names []string) ([]layout.Signal, error) {
	var out []layout.Signal
	for _, n := range names {
		s, err := layout.ParseSignal(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
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
	raw, err := readLimited(path)
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
	raw, err := readLimited(f.path)
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

func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxTokenFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxTokenFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxTokenFileBytes)
	}
	return raw, nil
}
