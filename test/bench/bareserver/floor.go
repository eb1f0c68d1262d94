package main

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// appendLog is the durable floor: every body, prefixed by its SHA-256, appended to one file,
// with a group-committed fdatasync. A request waits for the fdatasync that covers its bytes;
// while one is in flight, arriving bodies gather into the next batch, so batches grow by
// themselves under load and no timer is needed at low load. It is the least any server that
// acknowledges only durable bytes must do here (read, hash, one write and one barrier per batch,
// no second inode, no directory sync), so an ingester's ratio to it measures everything else the
// ingester does.
type appendLog struct {
	f *os.File

	mu   sync.Mutex
	next *batch        // bodies waiting for the next write + fdatasync
	kick chan struct{} // capacity 1: tells the committer the next batch is not empty
}

type batch struct {
	buf  bytes.Buffer
	done chan struct{} // closed after the batch's fdatasync
	err  error         // valid once done is closed
}

func openAppendLog(path string) (*appendLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	l := &appendLog{f: f, next: newBatch(), kick: make(chan struct{}, 1)}
	go l.commit()
	return l, nil
}

func newBatch() *batch { return &batch{done: make(chan struct{})} }

// append adds body to the next batch and waits until it is on disk.
func (l *appendLog) append(sum [sha256.Size]byte, body []byte) error {
	l.mu.Lock()
	b := l.next
	b.buf.Write(sum[:])
	b.buf.Write(body)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // the committer is already told
	}
	<-b.done
	return b.err
}

// commit is the only writer: one write and one fdatasync in flight at a time.
func (l *appendLog) commit() {
	for range l.kick {
		l.mu.Lock()
		b := l.next
		if b.buf.Len() == 0 { // a kick for bytes an earlier batch already took
			l.mu.Unlock()
			continue
		}
		l.next = newBatch()
		l.mu.Unlock()
		if _, err := l.f.Write(b.buf.Bytes()); err != nil {
			b.err = err
		} else {
			b.err = unix.Fdatasync(int(l.f.Fd()))
		}
		close(b.done)
	}
}

// appendBodies answers 200 once the body and its hash are durable in the log.
func appendBodies(l *appendLog) http.HandlerFunc {
	return durably(func(_ *http.Request, body []byte) error { return l.append(sha256.Sum256(body), body) })
}
