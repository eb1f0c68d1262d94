package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// BenchmarkTokenAuth is the cost that bearer-token authentication adds to a request: header
// parsing, SHA-256, the lookup among 1,000 tokens, the expiry and signal checks and the counter.
// The target is under 2 µs per request.
func BenchmarkTokenAuth(b *testing.B) {
	var entries []tokenfile.Entry
	var valid string
	for i := range 1000 {
		tok, err := tokenfile.New()
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, tokenfile.Entry{Name: fmt.Sprintf("client-%d", i), SHA256: tokenfile.Hash(tok), Signals: []string{"logs", "traces"}})
		valid = tok
	}
	path := b.TempDir() + "/tokens.yaml"
	writeFile(b, path, tokenFileYAML(entries...))
	chain, err := New(b.Context(), ingesterconfig.Auth{TokenFile: path}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	newRequest := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "http://ingester/v1/traces", nil)
		req.Header.Set("Authorization", "Bearer "+valid)
		return req
	}

	b.Run("one request at a time", func(b *testing.B) {
		req := newRequest()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := chain.Authenticate(req, layout.Traces); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("requests in parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := newRequest()
			for pb.Next() {
				if _, err := chain.Authenticate(req, layout.Traces); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
