package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/provision"
)

// TestHangingStoreIsolated gives one class an endpoint that accepts connections and never
// answers, and another the real SeaweedFS, with two workers and one store slot per class. The
// hanging class's lakes are created first, so that without the gates both workers would be
// stuck in their calls. The healthy class's lakes must go Ready while the hanging class's first
// call is still waiting for an answer: no call to the hanging store has ended yet (each waits for
// the provisioner's 10 s response-header timeout), so nothing but a free worker can explain it.
func TestHangingStoreIsolated(t *testing.T) {
	c := newCluster(t)
	hang := startHangingListener(t)
	c.mgr = c.startManager(t, managerConfig{workers: 2, storeCallsPerClass: 1})
	ctx := context.Background()
	c.adminSecret(t, "lake-admin")
	c.storageClass(t, "hanging", "http://"+hang.addr(), "lake-admin", false)
	c.storageClass(t, "healthy", c.s3.Endpoint, "lake-admin", false)

	const lakes = 3
	for _, class := range []string{"hanging", "healthy"} {
		for i := range lakes {
			ns := fmt.Sprintf("%s-%d", class, i)
			c.createNamespace(t, ns)
			if err := c.client.Create(ctx, &lakev1.TelemetryLake{ObjectMeta: metav1.ObjectMeta{Name: "lake", Namespace: ns},
				Spec: lakev1.TelemetryLakeSpec{StorageClassName: class}}); err != nil {
				t.Fatal(err)
			}
		}
		if class == "hanging" {
			eventually(t, 20*time.Second, "a call to the hanging store", func() (bool, string) {
				return hang.stats().accepted > 0, "no connection yet"
			})
		}
	}
	for i := range lakes {
		ns := fmt.Sprintf("healthy-%d", i)
		c.waitCondition(t, ns, "lake", lakev1.ConditionCredentialsReady, metav1.ConditionTrue)
		c.rollOut(t, ns, "lake-ingester")
		c.waitCondition(t, ns, "lake", lakev1.ConditionReady, metav1.ConditionTrue)
	}
	st := hang.stats()
	if st.closed > 0 {
		t.Errorf("%d calls to the hanging store ended before the healthy class's lakes were Ready: the test proves nothing", st.closed)
	}
	if st.maxOpen > 1 {
		t.Errorf("the hanging store had %d connections open at once, with one store slot for its class", st.maxOpen)
	}
	for i := range lakes {
		l := c.lake(t, fmt.Sprintf("hanging-%d", i), "lake")
		if cond := condition(l, lakev1.ConditionStorageReady); cond.Status == metav1.ConditionTrue {
			t.Errorf("a lake of the hanging class has StorageReady: %s", describe(l))
		}
	}
}

// hangingListener accepts TCP connections on 127.0.0.1, reads what comes, and never answers.
type hangingListener struct {
	ln net.Listener
	mu sync.Mutex
	st hangStats
}

type hangStats struct{ accepted, open, maxOpen, closed int }

func startHangingListener(t *testing.T) *hangingListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingListener{ln: ln}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.st.accepted++
			h.st.open++
			h.st.maxOpen = max(h.st.maxOpen, h.st.open)
			conns = append(conns, conn)
			h.mu.Unlock()
			go func() {
				// The request is read and dropped; the read ends when the client gives up.
				_, _ = io.Copy(io.Discard, conn)
				h.mu.Lock()
				h.st.open--
				h.st.closed++
				h.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		h.mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		h.mu.Unlock()
	})
	return h
}

func (h *hangingListener) addr() string { return h.ln.Addr().String() }

func (h *hangingListener) stats() hangStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// TestStoreGateBreaker walks one class's gate through its states with a clock of the test's.
func TestStoreGateBreaker(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	g := newStoreGates(2, func() time.Time { return now }, func(string, types.NamespacedName) bool { return true })
	lake := types.NamespacedName{Namespace: "team-a", Name: "lake"}
	unreachable := fmt.Errorf("HeadBucket: %w", provision.ErrUnreachable)

	first, _, err := g.enter("a", lake)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := g.enter("a", lake)
	if err != nil {
		t.Fatal(err)
	}
	if _, wait, err := g.enter("a", lake); !errors.Is(err, errStoreBusy) || wait <= 0 {
		t.Fatalf("a third call with two slots: %v, come back in %s; want errStoreBusy and a wait", err, wait)
	}
	if other, _, err := g.enter("b", lake); err != nil {
		t.Fatalf("class b waits on class a's slots: %v", err)
	} else {
		other(nil)
	}
	first(unreachable)
	first(unreachable) // a second release of the same slot changes nothing
	second(unreachable)
	third, _, err := g.enter("a", lake)
	if err != nil {
		t.Fatalf("after two failures the breaker is still closed: %v", err)
	}
	third(unreachable)
	_, wait, err := g.enter("a", lake)
	if !errors.Is(err, errStoreOpen) || wait < breakerCooldown {
		t.Fatalf("after %d unreachable calls in a row: %v, come back in %s; want errStoreOpen for the cooldown", breakerFailures, err, wait)
	}

	now = now.Add(breakerCooldown)
	probe, _, err := g.enter("a", lake)
	if err != nil {
		t.Fatalf("after the cooldown no probe goes through: %v", err)
	}
	if _, _, err := g.enter("a", lake); !errors.Is(err, errStoreOpen) {
		t.Fatalf("a second call while the probe is out: %v, want errStoreOpen", err)
	}
	probe(unreachable)
	if _, _, err := g.enter("a", lake); !errors.Is(err, errStoreOpen) {
		t.Fatalf("after a failed probe: %v, want the breaker open again", err)
	}
	now = now.Add(breakerCooldown)
	probe, _, err = g.enter("a", lake)
	if err != nil {
		t.Fatal(err)
	}
	probe(fmt.Errorf("GetUser: %w", provision.ErrDenied)) // an answer, if not a happy one
	for range 2 {
		if _, _, err := g.enter("a", lake); err != nil {
			t.Fatalf("after the store answered the probe: %v, want the breaker closed", err)
		}
	}
}

// TestStoreGateWakesTheNextInLine: each freed slot wakes one waiting lake, in the order they
// came, skipping lakes that got a slot by other means or no longer wait (wake says false).
func TestStoreGateWakesTheNextInLine(t *testing.T) {
	lake := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: fmt.Sprintf("team-%d", i), Name: "lake"}
	}
	var woken []types.NamespacedName
	gone := map[types.NamespacedName]bool{lake(3): true}
	g := newStoreGates(1, time.Now, func(class string, l types.NamespacedName) bool {
		if class != "a" {
			t.Errorf("woken for class %q", class)
		}
		woken = append(woken, l)
		return !gone[l]
	})
	release, _, err := g.enter("a", lake(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		_, wait, err := g.enter("a", lake(i))
		if !errors.Is(err, errStoreBusy) || wait < slotFallback {
			t.Fatalf("lake %d with the one slot taken: %v, come back in %s; want errStoreBusy and slotFallback", i, err, wait)
		}
	}
	if _, _, err := g.enter("a", lake(1)); !errors.Is(err, errStoreBusy) {
		t.Fatalf("lake 1 again: %v", err) // already in line: it keeps its place, and is not lined up twice
	}
	wantWoken := func(want ...int) {
		t.Helper()
		var got []int
		for _, l := range woken {
			var i int
			fmt.Sscanf(l.Namespace, "team-%d", &i)
			got = append(got, i)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("woken %v; want %v", got, want)
		}
	}

	release(nil)
	wantWoken(1)
	release, _, err = g.enter("a", lake(1))
	if err != nil {
		t.Fatalf("the woken lake finds its slot taken: %v", err)
	}
	release(nil)
	wantWoken(1, 2)
	woken = nil
	release, _, err = g.enter("a", lake(2))
	if err != nil {
		t.Fatal(err)
	}
	release(nil)
	wantWoken(3, 4) // lake 3 was deleted meanwhile, so lake 4 is woken in its place
	// Lake 5 comes back on its own (its slotFallback) ahead of woken lake 4, and takes the slot.
	release, _, err = g.enter("a", lake(5))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.enter("a", lake(4)); !errors.Is(err, errStoreBusy) {
		t.Fatalf("lake 4, beaten to the slot: %v", err)
	}
	woken = nil
	release(nil)
	wantWoken(4) // back in line, and woken again; lake 5 left the line when it took the slot
	release, _, err = g.enter("a", lake(4))
	if err != nil {
		t.Fatal(err)
	}
	woken = nil
	release(nil)
	wantWoken() // nobody waits
}
