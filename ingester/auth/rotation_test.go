package auth

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/lake/layout"
)

// TestTokenRotationThroughASecretVolume rotates a token the way an operator does, by updating the
// Secret that the kubelet projects into the pod: the new token is added, both work during the
// overlap, then the old one is removed and stops working within 2 s, all without a restart. The
// chain polls at its production interval.
func TestTokenRotationThroughASecretVolume(t *testing.T) {
	t.Parallel()
	oldToken, oldEntry := newTestToken(t, "checkout-2026-10")
	newToken, newEntry := newTestToken(t, "checkout-2026-11")
	vol := newSecretVolume(t, map[string]string{"tokens.yaml": tokenFileYAML(oldEntry)})
	chain, _ := newChain(t, ingesterconfig.Auth{TokenFile: vol.path("tokens.yaml")}, Options{TokenFilePollInterval: DefaultTokenFilePollInterval})
	ing := startIngester(t, chain)
	status := func(token string) int { return export(t, ing, layout.Traces, "Bearer "+token, false).Status }

	// keepSending checks that a token keeps working while something else happens.
	keepSending := func(t *testing.T, token string) (stop func()) {
		var done atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			for !done.Load() {
				if got := status(token); got != http.StatusOK {
					t.Errorf("a token that should stay valid got %d", got)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		return func() { done.Store(true); wg.Wait() }
	}

	t.Run("before the rotation only the old token works", func(t *testing.T) {
		if got := status(oldToken); got != http.StatusOK {
			t.Fatalf("old token: %d", got)
		}
		if got := status(newToken); got != http.StatusUnauthorized {
			t.Fatalf("new token: %d, want 401", got)
		}
	})

	t.Run("once the new token is added both work", func(t *testing.T) {
		stop := keepSending(t, oldToken)
		vol.update(map[string]string{"tokens.yaml": tokenFileYAML(oldEntry, newEntry)})
		waitFor(t, 2*time.Second, "the new token to work", func() bool { return status(newToken) == http.StatusOK })
		time.Sleep(time.Second) // the overlap: both keep working
		stop()
		if got := status(newToken); got != http.StatusOK {
			t.Fatalf("new token during the overlap: %d", got)
		}
	})

	t.Run("a token file that does not parse leaves both tokens in force", func(t *testing.T) {
		stop := keepSending(t, newToken)
		vol.update(map[string]string{"tokens.yaml": "tokens: [\n"})
		time.Sleep(3 * DefaultTokenFilePollInterval)
		stop()
		if got := status(oldToken); got != http.StatusOK {
			t.Fatalf("old token after a broken update: %d", got)
		}
	})

	t.Run("once the old token is removed it fails within 2 s and the new one still works", func(t *testing.T) {
		stop := keepSending(t, newToken)
		vol.update(map[string]string{"tokens.yaml": tokenFileYAML(newEntry)})
		removed := time.Now()
		waitFor(t, 2*time.Second, "the old token to fail", func() bool { return status(oldToken) == http.StatusUnauthorized })
		t.Logf("the old token failed %v after its removal", time.Since(removed).Round(time.Millisecond))
		stop()
	})
}
