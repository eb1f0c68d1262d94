package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// Defaults of the store gates (see storeGates). The numbers, and the measurements behind them:
//   - DefaultStoreCallsPerClass, 4: enough to overlap the round trips of a store that scales
//     (a first s3-iam provisioning is 10 calls in a row), and it leaves the other workers
//     (DefaultMaxConcurrentReconciles) to other classes and to the cheap reconciles that only
//     read the cache. A store that serializes its calls gains nothing from more than 1, and can
//     lose: SeaweedFS's embedded IAM runs one call at a time, each costing in proportion to its
//     users, and with 4 in flight past ~150 users they queued four deep, answered in 5-10 s and
//     ran into the SDK's 10 s timeout; with --store-calls-per-class=1, 300 lakes reached 202
//     Ready after 600 s instead of 168, and no call timed out (make bench-operator, one run
//     each). Adapting the bound to the store's latency is the better answer, not made yet.
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
	// slotFallback is when a lake that found its class's slots taken comes back if no wake-up
	// reached it first (see storeGates); the jitter (up to the same again) keeps such lakes from
	// coming back as one. Before wake-ups, a waiting lake came back every 0.5-1 s: at 300 lakes
	// on SeaweedFS's IAM (2-3 s a call) that was 370 reconciles a lake and 63 s of the manager's
	// CPU in 600 s, all of them finding the slots taken again.
	slotFallback = 30 * time.Second
	// probeRetry is how often a lake comes back while its class's breaker lets its one probe
	// through: the probe's answer decides for all of them.
	probeRetry = 500 * time.Millisecond
)

// errStoreBusy and errStoreOpen say why a lake's store calls did not start.
var (
	errStoreBusy = errors.New("every store slot of the class is in use")
	errStoreOpen = errors.New("the circuit breaker of the class is open")
)

// storeGates bound the store calls of each LakeStorageClass and break the circuit to a class
// whose store fails again and again. A worker never waits for a slot: a lake that finds none is
// put in its class's line and woken (wake) when a slot frees, first come first served, so a slow
// or dead store holds at most its class's slots, every other worker stays free for other
// classes' lakes and for the reconciles that call no store at all, and a waiting lake costs no
// reconcile until its turn (or slotFallback, should a wake-up be lost).
type storeGates struct {
	perClass int
	now      func() time.Time
	// wake asks for a reconcile of a lake whose turn has come, and reports false if the lake no
	// longer waits for the class (deleted, or moved to another class), so that the next in line
	// is woken instead. It is called without the gates' lock held.
	wake func(class string, lake types.NamespacedName) bool

	mu    sync.Mutex
	gates map[string]*storeGate
}

// storeGate is one class's: the calls in flight, the lakes waiting for a slot, and the breaker.
type storeGate struct {
	inFlight int
	// line is the lakes refused a slot, in the order they came, each once; a lake leaves it when
	// it is woken or gets a slot some other way. A few thousand at most, so scanning it is cheap.
	line []types.NamespacedName
	// failures counts the calls in a row that found the store unreachable.
	failures int
	// openUntil, while the breaker is open, is when one probe may go through; probing says one
	// is on its way, and the others wait for its answer.
	openUntil time.Time
	probing   bool
}

func newStoreGates(perClass int, now func() time.Time, wake func(class string, lake types.NamespacedName) bool) *storeGates {
	if perClass <= 0 {
		perClass = DefaultStoreCallsPerClass
	}
	return &storeGates{perClass: perClass, now: now, wake: wake, gates: map[string]*storeGate{}}
}

// enter takes a slot of class's gate for lake. It returns release, to be called with the result
// of the store calls, or an error (errStoreBusy, errStoreOpen) with when to come back at the
// latest.
func (g *storeGates) enter(class string, lake types.NamespacedName) (release func(error), retryAfter time.Duration, err error) {
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
			if wait < probeRetry {
				wait = probeRetry
			}
			// The message is the same on every refusal: it lands in the lakes' status, and a
			// count or countdown in it would rewrite every lake's status on every retry.
			return nil, jitter(wait), fmt.Errorf("%w: %d or more calls in a row found the store unreachable; one call is let through every %s until one succeeds", errStoreOpen, breakerFailures, breakerCooldown)
		}
		probe = true
		gate.probing = true
	}
	if gate.inFlight >= g.perClass {
		if !slices.Contains(gate.line, lake) {
			gate.line = append(gate.line, lake)
		}
		return nil, jitter(slotFallback), fmt.Errorf("%w (%d)", errStoreBusy, g.perClass)
	}
	gate.line = slices.DeleteFunc(gate.line, func(l types.NamespacedName) bool { return l == lake })
	gate.inFlight++
	var once sync.Once
	return func(result error) {
		once.Do(func() { g.leave(class, gate, probe, result) })
	}, 0, nil
}

func (g *storeGates) leave(class string, gate *storeGate, probe bool, result error) {
	g.mu.Lock()
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
	g.mu.Unlock()
	g.wakeNext(class, gate)
}

// wakeNext wakes the first lake in class's line, or the next if that one no longer waits. A
// woken lake leaves the line; should another lake take the slot before it comes, it finds the
// slots taken and joins the line again, at its end.
func (g *storeGates) wakeNext(class string, gate *storeGate) {
	for {
		g.mu.Lock()
		if len(gate.line) == 0 {
			g.mu.Unlock()
			return
		}
		next := gate.line[0]
		gate.line = gate.line[1:]
		g.mu.Unlock()
		if g.wake(class, next) {
			return
		}
	}
}

// jitter spreads d over [d, 2d).
func jitter(d time.Duration) time.Duration {
	return d + rand.N(d)
}

// slotWakeups is how many wake-ups may wait for the controller at once. One is sent for each
// store call that ends, and the controller takes them as fast as it enqueues; a wake-up that
// finds the buffer full is dropped, and its lake comes back after slotFallback.
const slotWakeups = 1024

// wakeForSlot is the gates' wake: it enqueues lake if it still waits for a slot of class, as
// the cache shows it.
func (r *TelemetryLakeReconciler) wakeForSlot(class string, key types.NamespacedName) bool {
	lake := &lakev1.TelemetryLake{}
	if err := r.Client.Get(context.Background(), key, lake); err != nil {
		// Gone (or not readable): not waiting any more. A lake being deleted still waits, for
		// its finalizer's store calls.
		return false
	}
	if lake.Spec.StorageClassName != class {
		return false
	}
	select {
	case r.slotFreed <- event.TypedGenericEvent[*lakev1.TelemetryLake]{Object: lake}:
	default:
	}
	return true
}
