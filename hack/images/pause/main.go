// Command pause is the sandbox container of the local cluster's real node (containerd's
// sandbox_image): it holds a pod's namespaces open and does nothing else. The local cluster
// cannot pull registry.k8s.io/pause, so `go run ./hack/images --only pause` builds this one.
//
// As PID 1 of the pod's PID namespace (when the pod shares one), it reaps the orphans that are
// re-parented to it; SIGINT and SIGTERM end it, which is how the runtime stops a sandbox.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
