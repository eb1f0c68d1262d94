package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SeaweedFS is a single-process SeaweedFS (`weed mini`: master, volume, filer,
// S3 gateway with the embedded IAM API) listening only on 127.0.0.1, with
// every port it opens chosen freshly, so tests may run several in parallel.
//
// Quirks worth knowing (found with this pinned version):
//   - The admin identity comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
//     in weed's environment; with it set, anonymous requests get 403
//     AccessDenied.
//   - The embedded IAM API (same port as S3) is read-only unless
//     -s3.iam.readOnly=false is given.
//   - -admin.ui=false does not stop `weed mini` from starting the admin
//     server (its gRPC port, and later also its HTTP port, listen anyway), so
//     its ports are set too; the Iceberg and Lance ports are disabled with 0,
//     WebDAV with -webdav=false.
//   - For same-host gRPC, weed also listens on hard-coded Unix sockets
//     /tmp/seaweedfs-<component>-grpc-<port>.sock. They are keyed by our
//     unique gRPC ports, weed removes stale ones before listening and on a
//     clean stop, and the harness removes leftovers at cleanup.
//   - A clean stop (SIGTERM) takes ~1–3 s; weed exits with status 0.
type SeaweedFS struct {
	// Endpoint is the S3 (and IAM) endpoint, http://127.0.0.1:PORT (or the ip of StartSeaweedFSOn).
	Endpoint string
	// AccessKey and SecretKey are the admin credentials (random per instance).
	AccessKey, SecretKey string
	// Dir is the data directory (-dir); it survives Stop/Start.
	Dir string
	// LogPath is the file receiving weed's stdout and stderr (appended to
	// across restarts).
	LogPath string

	bin   string
	ip    string // the one address weed listens on
	home  string // HOME for weed: an empty dir, so no ~/.seaweedfs config
	args  []string
	ports map[string]int // flag name -> port, kept across restarts
	// baseArgs are weed's arguments but its ports; args adds them.
	baseArgs []string
	proc     *weedProcess // nil while stopped
}

// weedProcess is one run of the weed binary.
type weedProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// seaweedPortFlags are all the `weed mini` flags that make it listen on a TCP
// port (from `weed mini -h`). Each gets its own free port on 127.0.0.1;
// gRPC ports would otherwise default to port+10000, which is not known to be
// free. Not listed because disabled below: -s3.port.iceberg, -s3.port.lance,
// -admin.port.legacy, -webdav.port, -s3.port.https, -debug.port,
// -metricsPort/-s3.metricsPort (off unless set), and the public ports
// (-volume.port.public defaults to -volume.port, -filer.port.public to none).
var seaweedPortFlags = []string{
	"master.port", "master.port.grpc",
	"volume.port", "volume.port.grpc",
	"filer.port", "filer.port.grpc",
	"s3.port", "s3.port.grpc",
	"admin.port", "admin.port.grpc",
}

// StartSeaweedFS builds weed if needed (see Tool), starts `weed mini` on free
// ports of 127.0.0.1 with fresh random admin credentials and an empty data
// dir in t.TempDir(), waits until an authenticated S3 ListBuckets succeeds,
// and registers a cleanup that stops it.
func StartSeaweedFS(t testing.TB) *SeaweedFS {
	t.Helper()
	return StartSeaweedFSOn(t, "127.0.0.1")
}

// StartSeaweedFSOn is StartSeaweedFS listening on ip instead of 127.0.0.1: a local address that
// pods reach too, such as the host's on a real node's bridge (hack/node.sh host-ip). Its ports
// are picked free on 127.0.0.1, which on one machine is a good guess for ip.
func StartSeaweedFSOn(t testing.TB, ip string) *SeaweedFS {
	t.Helper()
	bin := Tool(t, "weed")

	base := t.TempDir()
	s := &SeaweedFS{
		AccessKey: "AK" + randomString(t, 18, upperAlnum),
		SecretKey: randomString(t, 40, alnum),
		Dir:       filepath.Join(base, "data"),
		LogPath:   filepath.Join(base, "weed.log"),
		bin:       bin,
		ip:        ip,
		home:      filepath.Join(base, "home"),
		ports:     map[string]int{},
	}
	for _, d := range []string{s.Dir, s.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Unix socket paths are limited to 108 bytes, and t.TempDir() paths grow
	// with the test name, so the filer/S3 local sockets get a short dir.
	sockDir, err := os.MkdirTemp("", "weed")
	if err != nil {
		t.Fatal(err)
	}

	s.baseArgs = []string{
		// Global options: log to stderr (our log file) only; by default weed
		// also writes glog files into /tmp, several per run. Look for toml
		// config only in an empty dir (plus HOME, see env).
		"-logtostderr",
		"-config_dir=" + s.home,
		"mini",
		"-dir=" + s.Dir,
		// -ip is what weed advertises to its own components; -ip.bind
		// defaults to 0.0.0.0, so set it explicitly to stay on ip.
		"-ip=" + ip,
		"-ip.bind=" + ip,
		// The embedded IAM API is read-only by default; tests create users.
		"-s3.iam.readOnly=false",
		// Never phone home from tests.
		"-master.telemetry=false",
		// Not needed: WebDAV, the admin web UI, Iceberg/Lance catalogs, the
		// legacy admin port.
		"-webdav=false",
		"-admin.ui=false",
		"-admin.port.legacy=0",
		"-s3.port.iceberg=0",
		"-s3.port.lance=0",
		"-filer.localSocket=" + filepath.Join(sockDir, "filer.sock"),
		"-s3.localSocket=" + filepath.Join(sockDir, "s3.sock"),
	}
	s.usePorts(t)

	t.Cleanup(func() {
		s.Stop(t)
		os.RemoveAll(sockDir)
		for _, c := range []string{"master", "volume", "filer", "s3", "admin"} {
			os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", c, s.ports[c+".port.grpc"]))
		}
	})
	// A port picked free can still be taken before weed binds it, by another test's server that
	// picked it too; weed then exits. The first start alone tries again, on other ports: later
	// starts keep theirs, which tests rely on.
	for attempt := 1; ; attempt++ {
		err := s.start(t)
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(s.LogTail(), "address already in use") {
			t.Logf("harness: weed could not bind a port (%v); retrying on other ports", err)
			s.usePorts(t)
			continue
		}
		t.Fatalf("harness: weed did not become ready: %v\n--- tail of %s ---\n%s", err, s.LogPath, s.LogTail())
	}
	return s
}

// usePorts gives every port flag a fresh free port.
func (s *SeaweedFS) usePorts(t testing.TB) {
	ports := FreePorts(t, len(seaweedPortFlags))
	s.args = slices.Clone(s.baseArgs)
	for i, f := range seaweedPortFlags {
		s.ports[f] = ports[i]
		s.args = append(s.args, fmt.Sprintf("-%s=%d", f, ports[i]))
	}
	s.Endpoint = fmt.Sprintf("http://%s:%d", s.ip, s.ports["s3.port"])
}

// Start (re)starts weed on the same data dir, ports and credentials and waits
// until it serves authenticated S3 requests. It is a no-op while running.
func (s *SeaweedFS) Start(t testing.TB) {
	t.Helper()
	if err := s.start(t); err != nil {
		t.Fatalf("harness: weed did not become ready: %v\n--- tail of %s ---\n%s", err, s.LogPath, s.LogTail())
	}
}

func (s *SeaweedFS) start(t testing.TB) error {
	t.Helper()
	if s.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logf, "=== harness: %s %s %v\n", time.Now().Format(time.RFC3339Nano), s.bin, s.args)

	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (e.g. killed by `go test -timeout`), take weed
	// with it rather than leaving it running with our ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	p := &weedProcess{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that started the child exits,
		// and the Go runtime may retire threads. Keep this goroutine on its
		// thread until the child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting weed: %w", err)
	}
	s.proc = p

	begin := time.Now()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop(t)
		return err
	}
	t.Logf("harness: weed ready at %s after %v (log: %s)", s.Endpoint, time.Since(begin).Round(time.Millisecond), s.LogPath)
	return nil
}

// env is weed's environment: the test's, minus anything that could change
// weed's behaviour behind the test's back (AWS_* credentials, WEED_*
// overrides of toml settings, and HOME, whose ~/.seaweedfs/*.toml weed would
// read), plus the admin credentials.
func (s *SeaweedFS) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "WEED_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+s.home,
		"AWS_ACCESS_KEY_ID="+s.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s.SecretKey,
	)
}

// waitReady polls an authenticated ListBuckets until it succeeds, the process
// exits, or the timeout passes.
func (s *SeaweedFS) waitReady(timeout time.Duration) error {
	client := s.newS3Client(s.AccessKey, s.SecretKey, func(o *s3.Options) {
		o.RetryMaxAttempts = 1
		o.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	})
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.done:
			return fmt.Errorf("weed exited: %v", s.proc.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, lastErr = client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v; last ListBuckets error: %v", timeout, lastErr)
}

// Stop stops weed (SIGTERM, then SIGKILL after 10 s), keeping its data dir
// and ports for a later Start. It is a no-op while stopped.
func (s *SeaweedFS) Stop(t testing.TB) {
	t.Helper()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	begin := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Logf("harness: weed did not exit 10s after SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	t.Logf("harness: weed stopped after %v", time.Since(begin).Round(time.Millisecond))
	// A clean shutdown exits 0. Anything else (a crash before we asked it to
	// stop, or the SIGKILL) is only logged: tests that care check behaviour.
	if p.waitErr != nil {
		t.Logf("harness: weed exited: %v\n--- tail of %s ---\n%s", p.waitErr, s.LogPath, s.LogTail())
	}
}

// Running reports whether the weed process is running.
func (s *SeaweedFS) Running() bool {
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// CreateBucket creates a bucket as the admin.
func (s *SeaweedFS) CreateBucket(t testing.TB, name string) {
	t.Helper()
	_, err := s.S3Client(t, s.AccessKey, s.SecretKey).CreateBucket(context.Background(),
		&s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("harness: CreateBucket %q: %v", name, err)
	}
}

// S3Client returns an S3 client for this server with the given static
// credentials (path-style addressing, region us-east-1).
func (s *SeaweedFS) S3Client(t testing.TB, accessKey, secretKey string) *s3.Client {
	t.Helper()
	return s.newS3Client(accessKey, secretKey)
}

// IAMClient returns an IAM client for the embedded IAM API (same endpoint as
// S3) with the admin credentials.
func (s *SeaweedFS) IAMClient(t testing.TB) *iam.Client {
	t.Helper()
	return iam.New(iam.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

func (s *SeaweedFS) newS3Client(accessKey, secretKey string, optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	}, optFns...)
}

// LogTail returns the last lines of weed's log, for failure messages.
func (s *SeaweedFS) LogTail() string {
	data, err := os.ReadFile(s.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const maxLines, maxBytes = 40, 8 << 10
	if len(data) > maxBytes {
		data = data[len(data)-maxBytes:]
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Port returns the port given to a `weed mini` port flag, e.g. "filer.port".
func (s *SeaweedFS) Port(flag string) int { return s.ports[flag] }

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(t testing.TB, n int, alphabet string) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// HTTPStatus returns the HTTP status code carried by an AWS SDK error, or 0 if
// the error has none (e.g. connection refused).
func HTTPStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
