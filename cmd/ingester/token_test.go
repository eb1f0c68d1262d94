package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/ingester/auth"
	"github.com/telemetrylake/telemetrylake/ingester/server"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// TestTokenNewPrintsATokenAndTheEntryThatAcceptsIt pastes what `ingester token new` prints into a
// token file, as its output tells a user to, and authenticates with the printed token.
func TestTokenNewPrintsATokenAndTheEntryThatAcceptsIt(t *testing.T) {
	var out strings.Builder
	if err := runToken([]string{"new", "--name", "checkout", "--signals", "logs,traces", "--not-after", "2099-01-01T00:00:00Z"}, &out); err != nil {
		t.Fatal(err)
	}
	var token, entry string
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "#") || line == "":
		case strings.HasPrefix(line, tokenfile.Prefix):
			token = line
		default:
			entry += line + "\n"
		}
	}
	if token == "" || strings.Contains(entry, token) {
		t.Fatalf("want a token line and an entry without the token:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n"+entry), 0o600); err != nil {
		t.Fatal(err)
	}
	chain, err := auth.New(t.Context(), ingesterconfig.Auth{TokenFile: path}, auth.Options{})
	if err != nil {
		t.Fatalf("the printed entry does not load: %v\n%s", err, entry)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://ingester/v1/logs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if p, err := chain.Authenticate(req, layout.Logs); err != nil || p.Name != "token:checkout" {
		t.Fatalf("the printed token for logs: %v, %v", p, err)
	}
	var ae *server.AuthError
	if _, err := chain.Authenticate(req, layout.Metrics); !errors.As(err, &ae) || !ae.Forbidden {
		t.Fatalf("the printed token for metrics, which --signals left out: %v, want 403", err)
	}
}

// TestTokenNewPrintsAQueryToken: --permissions query gives the entry lakehouse serve accepts, and
// the ingester refuses it.
func TestTokenNewPrintsAQueryToken(t *testing.T) {
	var out strings.Builder
	if err := runToken([]string{"new", "--name", "grafana", "--permissions", "query"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "  permissions: [query]\n") {
		t.Fatalf("no permissions line in the entry:\n%s", out.String())
	}
	var entry string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "  ") {
			entry += line + "\n"
		}
	}
	f, err := tokenfile.Parse([]byte("tokens:\n" + entry))
	if err != nil || len(f.Tokens) != 1 || !f.Tokens[0].Allows(tokenfile.PermissionQuery) || f.Tokens[0].Allows(tokenfile.PermissionIngest) {
		t.Fatalf("the printed entry %q parses as %+v (%v): want query and not ingest", entry, f, err)
	}
}

func TestTokenNewRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"an unknown signal is refused", []string{"new", "--signals", "logs,profiles"}, "unknown signal"},
		{"a date that is not RFC 3339 is refused", []string{"new", "--not-after", "next week"}, "RFC 3339"},
		{"a name with a space is refused", []string{"new", "--name", "my app"}, "letters, digits"},
		{"a subcommand other than new is refused", []string{"list"}, "want 'new'"},
		{"an unknown permission is refused", []string{"new", "--permissions", "query,admin"}, `permission "admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := runToken(tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one that says %q", err, tc.err)
			}
			if strings.Contains(out.String(), tokenfile.Prefix) {
				t.Error("a token was printed although the command failed")
			}
		})
	}
}
