// Package tokenfile is the bearer-token file: the contract between the operator, which renders it
// into a Secret from spec.auth.tokens, `ingester token new`, which prints an entry for it, and the
// ingester, which accepts the tokens it lists. It holds hashes only, never a token.
//
// It must stay light: the operator links it, so it imports no server, store or HTTP code.
package tokenfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// Prefix starts every TelemetryLake bearer token, so that a leaked one is easy to recognise
// (secret scanners) and the ingester can tell it from a JWT without trying both.
const Prefix = "tlk_"

const (
	randomBytes = 32
	// Length is the prefix plus 32 bytes in unpadded base64url.
	Length = len(Prefix) + 43
	// MaxFileBytes bounds what a reader of the file reads; ~10,000 entries fit.
	MaxFileBytes = 4 << 20
)

// File is the format of the bearer-token file:
//
//	tokens:
//	- name: checkout
//	  sha256: 5b2c…            # hex SHA-256 of the whole token, "tlk_" included
//	  notAfter: "2027-01-01T00:00:00Z"
//	  signals: [logs, traces]
//	  permissions: [ingest, query]
type File struct {
	Tokens []Entry `json:"tokens"`
}

// Entry is one accepted token.
type Entry struct {
	// Name identifies the token's holder in logs and is its metrics label ("token:<name>"):
	// letters, digits, '.', '_' and '-', at most 63 characters, unique in the file.
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `json:"sha256"`
	// NotAfter, if set, is when the token stops working (RFC 3339).
	NotAfter *time.Time `json:"notAfter,omitempty"`
	// Signals the token may send; empty means all.
	Signals []string `json:"signals,omitempty"`
	// Permissions say what the token is for: PermissionIngest (send telemetry to the ingester)
	// and PermissionQuery (read the tenant's tables from `lakehouse serve`). Empty means
	// ingest only, what every token meant before query tokens existed, so that no token issued
	// for sending can read the lake without being granted it.
	Permissions []string `json:"permissions,omitempty"`
}

// The permissions a token may carry.
const (
	PermissionIngest = "ingest"
	PermissionQuery  = "query"
)

// Allows says whether the entry grants a permission.
func (e Entry) Allows(permission string) bool {
	if len(e.Permissions) == 0 {
		return permission == PermissionIngest
	}
	return slices.Contains(e.Permissions, permission)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// New returns a fresh random token: "tlk_" and 32 bytes from crypto/rand in base64url.
func New() (string, error) {
	b := make([]byte, randomBytes)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is the hex SHA-256 that the file stores for a token.
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ReadFile reads and checks the file at path (Read, then Parse).
func ReadFile(path string) (File, error) {
	raw, err := Read(path)
	if err != nil {
		return File{}, err
	}
	return Parse(raw)
}

// Read returns the bytes of the file at path, refusing one larger than MaxFileBytes before it is
// read whole.
func Read(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileBytes)
	}
	return raw, nil
}

// Parse reads and checks a whole file. One bad entry rejects it all, so that a typo never
// silently drops (or keeps) a token.
func Parse(raw []byte) (File, error) {
	var f File
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return File{}, err
	}
	names := map[string]bool{}
	hashes := map[string]bool{}
	for i, e := range f.Tokens {
		if err := e.Validate(); err != nil {
			return File{}, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		if names[e.Name] {
			return File{}, fmt.Errorf("token %q appears twice: names must be unique (they label logs and metrics)", e.Name)
		}
		names[e.Name] = true
		if h := strings.ToLower(e.SHA256); hashes[h] {
			return File{}, fmt.Errorf("token %q has the same sha256 as another entry", e.Name)
		} else {
			hashes[h] = true
		}
	}
	return f, nil
}

// Validate checks one entry on its own; `ingester token new` uses it too.
func (e Entry) Validate() error {
	if !namePattern.MatchString(e.Name) {
		return fmt.Errorf("token name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", e.Name)
	}
	if len(e.SHA256) != hex.EncodedLen(sha256.Size) || !isHex(e.SHA256) {
		return fmt.Errorf("token %q: sha256 must be 64 hex digits, the SHA-256 of the token (see `ingester token new`)", e.Name)
	}
	if _, err := ParseSignals(e.Signals); err != nil {
		return fmt.Errorf("token %q: %w", e.Name, err)
	}
	for _, p := range e.Permissions {
		if p != PermissionIngest && p != PermissionQuery {
			return fmt.Errorf("token %q: permission %q: want %s or %s", e.Name, p, PermissionIngest, PermissionQuery)
		}
	}
	return nil
}

// ParseSignals reads an entry's signals, dropping repeats.
func ParseSignals(names []string) ([]layout.Signal, error) {
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

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
