package controllers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// Defaults of the store gates (see storeGates). The numbers, and the measurements behind them:
//   - DefaultStoreCallsPerClass, 4: SeaweedFS's embedded IAM serializes every call behind one
//     global lock (issue 13: ~9 ms a call at ~100 users, 1.3-2.6 s at ~220), so more calls in
//     flight to one store only queue inside it; 4 keeps its S3 side busy while IAM works, and
//     leaves the other workers (DefaultMaxConcurrentReconciles) to other classes and to the
//     cheap reconciles that only read the cache.
//   - breakerFailures, 3 failures in a row: one is a blip the SDK's own retries did not hide;
//     three with no success between them is a store that is down. A call to a store that hangs
//     holds its worker for up to the provisioner's request timeout (30 s, 3 attempts of a 10 s
//     response-header timeout), so 3 are already a minute and a half of a worker.
//   - breakerCooldown, 30 s: the time after which one probe may go through; long enough that a
//     dead store costs a worker about once per cooldown, short enough that a store back up is
//     used again within a minute.
const (
	DefaultStoreCallsPerClass = 4
	breakerFailures           = 3
	breakerCooldown           = 30 * time.Second
	// slotRetry is when a lake that found its class's slots taken comes back: a first
	// provisioning takes 5 IAM and 3 S3 calls, ~0.1 s on an idle SeaweedFS, so a slot frees well
	// within it; the jitter (up to the same again) keeps the waiting lakes from coming back as one.
	slotRetry = 500 * time.Millisecond
)

// errStoreBusy and errStoreOpen say why a lake's store calls did not start.
var (
	errStoreBusy = errors.New("every store slot of the class is in use")
	errStoreOpen = errors.New("the circuit breaker of the class is open")
)

// storeGates bound the store calls of each LakeStorageClass and break the circuit to a class
// whose store fails again and again. A worker never waits for a slot: a lake that finds none
// comes back later (gateClosed says when), so a slow or dead store holds at most its class's
// slots, and every other worker stays free for other classes' lakes and for the reconciles that
// call no store at all.
type storeGates struct {
	perClass int
	now      func() time.Time

	mu    sync.Mutex
	gates map[string]*storeGate
}

// storeGate is one class's: the calls in flight, and the breaker.
type storeGate struct {
	inFlight int
	// failures counts the calls in a row that found the store unreachable.
	failures int
	// openUntil, while the breaker is open, is when one probe may go through; probing says one
	// is on its way, and the others wait for its answer.
	openUntil time.Time
	probing   bool
}

func newStoreGates(perClass int, now func() time.Time) *storeGates {
	if perClass <= 0 {
		perClass = DefaultStoreCallsPerClass
	}
	return &storeGates{perClass: perClass, now: now, gates: map[string]*storeGate{}}
}

// enter takes a slot of class's gate. It returns release, to be called with the result of the
// store calls, or an error (errStoreBusy, errStoreOpen) with when to come back.
func (g *storeGates) enter(class string) (release func(error), retryAfter time.Duration, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gate := g.gates[class]
	if gate == nil {
		gate = &storeGate{}
		g.gates[class] = gate
	}
	now := g.now()
	probe := false
	if gate.failures >= breakerFailures {
		if now.Before(gate.openUntil) || gate.probing {
			wait := gate.openUntil.Sub(now)
			if wait < slotRetry {
				wait = slotRetry
			}
			// The message is the same on every refusal: it lands in the lakes' status, and a
			// count or countdown in it would rewrite every lake's status on every retry.
			return nil, jitter(wait), fmt.Errorf("%w: %d or more calls in a row found the store unreachable; one call is let through every %s until one succeeds", errStoreOpen, breakerFailures, breakerCooldown)
		}
		probe = true
		gate.probing = true
	}
	if gate.inFlight >= g.perClass {
		return nil, jitter(slotRetry), fmt.Errorf("%w (%d)", errStoreBusy, g.perClass)
	}
	gate.inFlight++
	var once sync.Once
	return func(result error) {
		once.Do(func() { g.leave(gate, probe, result) })
	}, 0, nil
}

func (g *storeGates) leave(gate *storeGate, probe bool, result error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gate.inFlight--
	if probe {
		gate.probing = false
	}
	switch {
	case errors.Is(result, provision.ErrUnreachable):
		gate.failures++
		if gate.failures >= breakerFailures {
			gate.openUntil = g.now().Add(breakerCooldown)
		}
	default:
		// Any answer at all, even a refusal, says the store is there.
		gate.failures = 0
	}
}

// jitter spreads d over [d, 2d).
func jitter(d time.Duration) time.Duration {
	return d + rand.N(d)
}
