package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/telemetrylake/telemetrylake/api/tokenfile"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// token is `ingester token new`: it makes a token and prints it once, with the entry (its hash,
// never the token) to add to the token file.
func token(args []string) error { return runToken(args, os.Stdout) }

func runToken(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New("token: want 'new'")
	}
	fs := flag.NewFlagSet("token new", flag.ContinueOnError)
	name := fs.String("name", "", "the token's name in logs and metrics (default: token-<random>)")
	signals := fs.String("signals", "", "comma-separated signals it may send: logs,metrics,traces (default: all)")
	notAfter := fs.String("not-after", "", "when it stops working, RFC 3339 (default: never)")
	permissions := fs.String("permissions", "", "comma-separated: ingest (send to the ingester), query (read the lake from lakehouse serve); default: ingest")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token new: unexpected arguments %q", fs.Args())
	}
	tok, err := tokenfile.New()
	if err != nil {
		return err
	}
	if *name == "" {
		// Random rather than derived from the token or its hash: the name is logged, they are not.
		*name = "token-" + rand.Text()[:8]
	}
	entry := tokenfile.Entry{Name: *name, SHA256: tokenfile.Hash(tok)}
	if *signals != "" {
		for _, s := range strings.Split(*signals, ",") {
			if _, err := layout.ParseSignal(strings.TrimSpace(s)); err != nil {
				return fmt.Errorf("token new: --signals: %w", err)
			}
			entry.Signals = append(entry.Signals, strings.TrimSpace(s))
		}
	}
	if *permissions != "" {
		for _, p := range strings.Split(*permissions, ",") {
			entry.Permissions = append(entry.Permissions, strings.TrimSpace(p))
		}
	}
	if *notAfter != "" {
		t, err := time.Parse(time.RFC3339, *notAfter)
		if err != nil {
			return fmt.Errorf("token new: --not-after must be RFC 3339, such as 2027-01-31T00:00:00Z: %w", err)
		}
		entry.NotAfter = &t
	}
	if err := entry.Validate(); err != nil {
		return fmt.Errorf("token new: %w", err)
	}
	fmt.Fprintf(out, "# The token. It is shown only now: give it to the client, which sends it as\n")
	fmt.Fprintf(out, "#   OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer <token>\"\n")
	fmt.Fprintf(out, "%s\n\n", tok)
	fmt.Fprintf(out, "# The entry to add under \"tokens:\" in the token file (it holds only the hash):\n")
	fmt.Fprintf(out, "- name: %s\n  sha256: %s\n", entry.Name, entry.SHA256)
	if entry.NotAfter != nil {
		fmt.Fprintf(out, "  notAfter: %q\n", entry.NotAfter.Format(time.RFC3339))
	}
	if len(entry.Signals) > 0 {
		fmt.Fprintf(out, "  signals: [%s]\n", strings.Join(entry.Signals, ", "))
	}
	if len(entry.Permissions) > 0 {
		fmt.Fprintf(out, "  permissions: [%s]\n", strings.Join(entry.Permissions, ", "))
	}
	return nil
}
