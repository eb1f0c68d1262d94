package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lake/s3client"
)

// S3Store keeps objects in a bucket under a prefix. Create-only is the server's job: PutObject
// with If-None-Match: * is refused with 412 when the key exists, so two ingesters racing on the
// same block cannot both write it.
type S3Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	desc   string
}

// OpenS3 reads s3://bucket/prefix?endpoint=URL&region=R&path_style=true. Credentials come from
// the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a credentials file, ...).
func OpenS3(ctx context.Context, u *url.URL) (*S3Store, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, fmt.Errorf("storage URL %s: no bucket (want s3://bucket/prefix)", u.Redacted())
	}
	q := u.Query()
	pathStyle, _ := strconv.ParseBool(q.Get("path_style"))
	client, _, err := s3client.New(ctx, s3client.Options{
		Endpoint:  q.Get("endpoint"),
		Region:    q.Get("region"),
		PathStyle: pathStyle,
		// A few quick retries ride out a blip; anything longer is the client's retry to make,
		// after our 503, rather than a request held open here.
		Retries: s3client.Retries{MaxAttempts: 3, MaxBackoff: 500 * time.Millisecond},
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	st := NewS3(client, bucket, u.Path)
	if ep := q.Get("endpoint"); ep != "" {
		st.desc += " at " + ep
	}
	return st, nil
}

// NewS3 keeps objects in bucket under prefix through a client made elsewhere: a test's, with a
// tenant's own credentials. OpenS3 is the way in from a storage URL.
func NewS3(client *s3.Client, bucket, prefix string) *S3Store {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3Store{client: client, bucket: bucket, prefix: prefix, desc: "s3://" + bucket + "/" + prefix}
}

func (s *S3Store) String() string { return s.desc }

func (s *S3Store) Close() error { return nil }

func (s *S3Store) Create(ctx context.Context, key string, data []byte, meta map[string]string) (bool, error) {
	for attempt := 0; ; attempt++ {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(s.prefix + key),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
			IfNoneMatch:   aws.String("*"),
			Metadata:      meta,
			ContentType:   aws.String(layout.ContentType(key)),
		})
		switch status := httpStatus(err); {
		case err == nil:
			return true, nil
		case status == http.StatusPreconditionFailed:
			return false, nil
		case status == http.StatusConflict && attempt < 3:
			// 409 means a concurrent conditional write to the same key is in progress; once it
			// settles, our retry turns into a 412 (duplicate) or a success.
			select {
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			case <-ctx.Done():
				return false, ctx.Err()
			}
		default:
			return false, fmt.Errorf("s3 store: put %s: %w", key, err)
		}
	}
}

func (s *S3Store) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, nil, fmt.Errorf("s3 store: get %s: %w", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("s3 store: get %s: %w", key, err)
	}
	return data, out.Metadata, nil
}

func (s *S3Store) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, int64, error) {
	var rng string
	switch {
	case offset < 0:
		rng = fmt.Sprintf("bytes=%d", offset) // "bytes=-N": the last N bytes
	case length <= 0:
		return nil, 0, fmt.Errorf("s3 store: get %s: a range of %d bytes", key, length)
	default:
		rng = fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), Range: aws.String(rng)})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, 0, fmt.Errorf("s3 store: get %s %s: %w", key, rng, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("s3 store: get %s %s: %w", key, rng, err)
	}
	// Content-Range is "bytes first-last/size"; a server that ignores the range sends the
	// whole object without one.
	size := int64(len(data))
	if cr := aws.ToString(out.ContentRange); cr != "" {
		_, total, ok := strings.Cut(cr, "/")
		if size, err = strconv.ParseInt(total, 10, 64); !ok || err != nil {
			return nil, 0, fmt.Errorf("s3 store: get %s %s: Content-Range %q", key, rng, cr)
		}
	} else {
		data = cutRange(data, offset, length)
	}
	return data, size, nil
}

func (s *S3Store) List(ctx context.Context, prefix string, fn func(key string) error) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3 store: list %s: %w", prefix, err)
		}
		for _, obj := range page.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes an object. S3 answers a missing key with success too, so a repeat is a no-op.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil && httpStatus(err) != http.StatusNotFound {
		return fmt.Errorf("s3 store: delete %s: %w", key, err)
	}
	return nil
}

// Ping lists at most one key under the prefix: the cheapest call that a tenant's credentials,
// scoped to a prefix of a shared bucket, are still allowed to make.
func (s *S3Store) Ping(ctx context.Context) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(s.prefix),
		MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return fmt.Errorf("s3 store: %s: %w", s.desc, err)
	}
	return nil
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed":
			return http.StatusPreconditionFailed
		case "NoSuchKey", "NotFound":
			return http.StatusNotFound
		}
	}
	return 0
}

// IsS3 says whether st keeps objects in S3, where each object carries user metadata of its own
// (the file store writes a sidecar for metadata instead) and a write's latency, not the store's
// bandwidth, is the limit.
func IsS3(st Store) bool {
	_, ok := st.(*S3Store)
	return ok
}
