package s3client

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CredentialsFile is a store's credentials as one JSON file, in the form of AWS's
// credential_process output: {"Version":1,"AccessKeyId":...,"SecretAccessKey":...,
// "SessionToken":...,"Expiration":"<RFC 3339>"}. One file rather than one per key, because the
// kubelet replaces a mounted Secret's files in one atomic swap and a reader of one file can never
// see a new key with an old secret.
type CredentialsFile struct {
	Version         int        `json:"Version"`
	AccessKeyID     string     `json:"AccessKeyId"`
	SecretAccessKey string     `json:"SecretAccessKey"`
	SessionToken    string     `json:"SessionToken,omitempty"`
	Expiration      *time.Time `json:"Expiration,omitempty"`
}

// Encode is the file's content.
func (f CredentialsFile) Encode() []byte {
	f.Version = 1
	b, _ := json.Marshal(f) // plain strings and a time: cannot fail
	return b
}

// ParseCredentialsFile reads what Encode wrote.
func ParseCredentialsFile(b []byte) (CredentialsFile, error) {
	var f CredentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("not a credentials file: %w", err)
	}
	if f.Version != 1 || f.AccessKeyID == "" || f.SecretAccessKey == "" {
		return f, fmt.Errorf("not a credentials file: want Version 1, AccessKeyId and SecretAccessKey")
	}
	return f, nil
}

// credentialsFileRecheck is how long credentials read from a file are used before the file is
// read again: a small read, at most once per this interval and only while requests are made. The
// operator replaces a session a third of its lifetime (20 minutes of the default hour) before it
// expires, and the kubelet takes a minute or two to update the mounted file, so this only needs
// to be short beside those.
const credentialsFileRecheck = 10 * time.Second

// fileCredentials reads a CredentialsFile, for aws.CredentialsCache: every credentialsFileRecheck,
// and no later than the session's expiry, the cache asks again and the file is read again.
type fileCredentials struct {
	path string
	now  func() time.Time
}

func (p fileCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	raw, err := os.ReadFile(p.path)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("storage credentials: %w", err)
	}
	f, err := ParseCredentialsFile(raw)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("storage credentials %s: %w", p.path, err)
	}
	now := p.now()
	expires := now.Add(credentialsFileRecheck)
	if f.Expiration != nil {
		if !now.Before(*f.Expiration) {
			// Sent anyway, the store would answer ExpiredToken; this says where to look.
			return aws.Credentials{}, fmt.Errorf("storage credentials %s: the session expired at %s and the file has not been replaced: check the operator's status of this lake", p.path, f.Expiration.UTC().Format(time.RFC3339))
		}
		if f.Expiration.Before(expires) {
			expires = *f.Expiration
		}
	}
	return aws.Credentials{
		AccessKeyID:     f.AccessKeyID,
		SecretAccessKey: f.SecretAccessKey,
		SessionToken:    f.SessionToken,
		Source:          "TelemetryLakeCredentialsFile",
		CanExpire:       true,
		Expires:         expires,
	}, nil
}

// credentialsFromFile is the credentials provider of the file path names. It reads the file once
// now, so that a missing or broken file fails at start rather than at the first request.
func credentialsFromFile(ctx context.Context, path string) (aws.CredentialsProvider, error) {
	p := fileCredentials{path: path, now: time.Now}
	if _, err := p.Retrieve(ctx); err != nil {
		return nil, err
	}
	return aws.NewCredentialsCache(p), nil
}
