package harness

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"testing"
)

// FreePorts picks n distinct ports of 127.0.0.1 that are free now, for a server in another
// process to listen on. They lie below the kernel's ephemeral range: a port picked from it would
// race every outgoing connection on the machine and every listener on port 0 until that server
// binds it, seen here as weed failing now and then with "address already in use".
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	low := ephemeralLow()
	const first = 10000
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 || low <= first+n {
			t.Fatalf("harness: no free port found below the ephemeral range (%d)", low)
		}
		p := first + mrand.IntN(low-first)
		if slices.Contains(ports, p) {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	return ports
}

// Listen opens a listener on a port of 127.0.0.1 that the kernel picks, for a server in this
// process: it holds the port from the start, so nothing can take it first. It is closed when the
// test ends, if the server has not closed it already.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 32768
	}
	return low
}
