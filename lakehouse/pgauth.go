//go:build cgo

package lakehouse

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
)

// errBadPassword is every refused token: unknown, expired, or without the query permission. The
// client is told only that the password was refused, as PostgreSQL does; the log says why.
var errBadPassword = errors.New("password authentication failed")

// tokenChecker checks a password against the tenant's token file (api/tokenfile, the format the
// ingester and the operator share). It reads the file at each login: logins are rare next to
// queries, the file is small, and a rotated Secret is in force at the next connection with no
// reload to wait for.
type tokenChecker struct {
	path string
}

// check returns the name of the token the password is, or why it is refused.
func (c tokenChecker) check(password string, now time.Time) (string, error) {
	f, err := tokenfile.ReadFile(c.path)
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", c.path, err)
	}
	presented := sha256.Sum256([]byte(password))
	for _, e := range f.Tokens {
		var stored [sha256.Size]byte
		hex.Decode(stored[:], []byte(e.SHA256)) // Parse checked it
		if subtle.ConstantTimeCompare(stored[:], presented[:]) != 1 {
			continue
		}
		switch {
		case e.NotAfter != nil && now.After(*e.NotAfter):
			return "", fmt.Errorf("%w: token %q expired at %s", errBadPassword, e.Name, e.NotAfter.Format(time.RFC3339))
		case !e.Allows(tokenfile.PermissionQuery):
			return "", fmt.Errorf("%w: token %q lacks the %s permission", errBadPassword, e.Name, tokenfile.PermissionQuery)
		}
		return e.Name, nil
	}
	return "", fmt.Errorf("%w: no token in the file matches", errBadPassword)
}
