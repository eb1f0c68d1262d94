// Package builders holds the desired state of every object the operator creates for a
// TelemetryLake: one pure function per kind, each next to its golden test.
//
// A builder takes the TelemetryLake and the facts the controller has already resolved (Inputs)
// and returns a typed object with TypeMeta set, ready for server-side apply. Build runs them all
// and says what to apply and what to remove; the controller needs nothing else from here but
// NamesFor and Endpoint. Builders must never call a client, read the clock or randomness, or modify their inputs:
// the same inputs always give the same object, byte for byte, so that a steady state makes no
// writes and a change shows up in review as a YAML diff under testdata/.
//
// Every object carries the four app.kubernetes.io labels of objectMeta and a controller
// ownerReference to its TelemetryLake; nothing is copied from the TelemetryLake's own labels or
// annotations. The one exception to the ownerReference is the filesystem volume under the Retain
// deletion policy (see PersistentVolumeClaim).
//
// A builder that returns nil means "this object should not exist": the controller deletes it if it
// finds one it owns.
package builders
