package provision

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/test/harness"
)

func TestNewS3IAMRefusesBadSettings(t *testing.T) {
	good := Endpoint{URL: "http://127.0.0.1:8333", AccessKeyID: "AK", SecretAccessKey: "SK"}
	cases := []struct {
		name string
		edit func(*Endpoint)
	}{
		{"missing admin credentials are refused", func(e *Endpoint) { e.SecretAccessKey = "" }},
		{"an endpoint without a scheme is refused", func(e *Endpoint) { e.URL = "s3.example.com" }},
		{"a CA bundle without a certificate is refused", func(e *Endpoint) { e.CABundle = []byte("not PEM") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := good
			tc.edit(&ep)
			_, err := NewS3IAM(ctx, ep)
			wantKind(t, "NewS3IAM", err, ErrInvalid)
		})
	}
}

// TestErrorKinds checks that failures against a real store come out as the kind the controller
// maps to a condition reason, with a message that names the object and the next step.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	sw := harness.StartSeaweedFS(t)
	tenant := Tenant{"team-a", "lake"}
	own := placement(t, BucketPerTenant, "", tenant)
	admin := Endpoint{URL: sw.Endpoint, PathStyle: true, AccessKeyID: sw.AccessKey, SecretAccessKey: sw.SecretKey}

	t.Run("a wrong admin secret is ErrDenied, naming what was refused", func(t *testing.T) {
		ep := admin
		ep.SecretAccessKey = "wrong"
		prov := newProvisioner(t, ep)
		err := prov.EnsureStorage(ctx, own, 0)
		wantKind(t, "EnsureStorage", err, ErrDenied)
		_, err = prov.EnsureCredentials(ctx, tenant, own, nil)
		wantKind(t, "EnsureCredentials", err, ErrDenied)
		for _, want := range []string{sw.Endpoint, UserName(tenant), "CreateUser", "secret in the LakeStorageClass"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not mention %q", err, want)
			}
		}
	})

	t.Run("a TLS endpoint is reached when its CA is in the bundle, and is ErrInvalid when not", func(t *testing.T) {
		target, _ := url.Parse(sw.Endpoint)
		// The proxy keeps the Host header the client signed, so SeaweedFS accepts the signature.
		proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
		proxy.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes failed on purpose
		proxy.StartTLS()
		t.Cleanup(proxy.Close)
		ep := admin
		ep.URL = proxy.URL
		ep.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
		if err := newProvisioner(t, ep).EnsureStorage(ctx, own, 0); err != nil {
			t.Fatalf("EnsureStorage over TLS with the CA bundle: %v", err)
		}
		ep.CABundle = nil
		err := newProvisioner(t, ep).EnsureStorage(ctx, own, 0)
		wantKind(t, "EnsureStorage over TLS without the CA bundle", err, ErrInvalid)
		if !strings.Contains(err.Error(), "CA bundle") {
			t.Errorf("message %q does not point at the CA bundle", err)
		}
	})

	// Both are built while SeaweedFS runs; it is stopped below.
	stopped := newProvisioner(t, admin)
	closedEP := admin
	closedEP.URL = "http://" + closedPort(t)
	closed := newProvisioner(t, closedEP)
	sw.Stop(t)

	stores := []struct {
		name string
		prov BucketProvisioner
		url  string
	}{
		{"a closed port on 127.0.0.1", closed, closedEP.URL},
		{"a stopped SeaweedFS", stopped, admin.URL},
	}
	ops := []struct {
		name string
		run  func(BucketProvisioner) error
	}{
		{"EnsureStorage", func(p BucketProvisioner) error { return p.EnsureStorage(ctx, own, 30) }},
		{"EnsureCredentials", func(p BucketProvisioner) error {
			_, err := p.EnsureCredentials(ctx, tenant, own, nil)
			return err
		}},
		{"RevokeCredentials", func(p BucketProvisioner) error { return p.RevokeCredentials(ctx, tenant) }},
		{"DeleteData", func(p BucketProvisioner) error { return p.DeleteData(ctx, own, true) }},
	}
	for _, store := range stores {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%s against %s is ErrUnreachable within 5s", op.name, store.name), func(t *testing.T) {
				start := time.Now()
				err := op.run(store.prov)
				elapsed := time.Since(start)
				wantKind(t, op.name, err, ErrUnreachable)
				if elapsed > 5*time.Second {
					t.Errorf("took %v; want under 5s", elapsed)
				}
				if !strings.Contains(err.Error(), store.url) {
					t.Errorf("message %q does not name the endpoint %s", err, store.url)
				}
				t.Logf("failed after %v", elapsed.Round(time.Millisecond))
			})
		}
	}
}

// closedPort returns 127.0.0.1:PORT where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
