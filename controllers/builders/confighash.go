package builders

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// ConfigHash identifies the content of the Secrets an ingester pod reads: its config, its token
// file, its storage credentials and the CAs it trusts. Build puts it on the pod template
// (wellknown.AnnotationConfigHash), so that a new config, token, rotated key or CA rolls the pods.
// The ingester re-reads its token file on its own; rolling on a token change as well makes a
// revocation certain once the roll is done, whatever the kubelet's sync delay.
//
// It covers each Secret's name and data, in an order independent of the arguments' and of map
// iteration, and nothing else: labels, annotations and other metadata do not roll pods. Nil
// Secrets are skipped. The result is 16 hex digits (64 bits of SHA-256).
func ConfigHash(secrets ...*corev1.Secret) string {
	present := slices.DeleteFunc(slices.Clone(secrets), func(s *corev1.Secret) bool { return s == nil })
	slices.SortFunc(present, func(a, b *corev1.Secret) int { return cmp.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, s := range present {
		field(h, []byte(s.Name))
		keys := slices.Sorted(maps.Keys(s.Data))
		field(h, binary.BigEndian.AppendUint64(nil, uint64(len(keys))))
		for _, k := range keys {
			field(h, []byte(k))
			field(h, s.Data[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// field writes b with its length first, so that no two sequences of fields hash alike.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
