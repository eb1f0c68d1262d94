package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// TestImagesAreReproducibleMinimalAndRunAsNonroot builds every image twice, the second time from
// a copy of the repository at another path, and checks that both builds give the same digests
// and the same archive bytes; then it opens the archives as any OCI reader would and checks what
// a user relies on: the platforms, user 65532, the entrypoint, the ports, the labels, exactly the
// expected files (so no shell), static binaries where they should be, an SBOM, and that each
// image's binary really starts inside its own file system alone (chroot, as uid 65532).
func TestImagesAreReproducibleMinimalAndRunAsNonroot(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	opts := options{
		registry: "test.invalid/telemetrylake",
		tag:      "v0.0.0-test",
		revision: "0123456789abcdef0123456789abcdef01234567",
		source:   "https://github.com/telemetrylake/telemetrylake",
		epoch:    time.Unix(1700000000, 0).UTC(),
		log:      t.Logf,
	}
	for _, img := range images {
		opts.only = append(opts.only, img.name) // the local cluster's pause image too
	}

	first := opts
	first.repoRoot, first.outDir = repo, filepath.Join(t.TempDir(), "first")
	builtFirst, err := buildAll(ctx, first, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	second := opts
	second.repoRoot, second.outDir = copyOfRepository(t, repo), filepath.Join(t.TempDir(), "second")
	builtSecond, err := buildAll(ctx, second, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	if len(builtFirst) != len(images) || len(builtSecond) != len(images) {
		t.Fatalf("built %d and %d images, want %d each", len(builtFirst), len(builtSecond), len(images))
	}
	for i, want := range images {
		a, b := builtFirst[i], builtSecond[i]
		t.Run(want.name+" is reproducible", func(t *testing.T) {
			if a.digest != b.digest {
				t.Errorf("index digests differ between two builds of the same source: %s and %s", a.digest, b.digest)
			}
			if fileSum(t, a.archive) != fileSum(t, b.archive) {
				t.Errorf("archives %s and %s differ", a.archive, b.archive)
			}
		})
		t.Run(want.name+" holds what it should and nothing else", func(t *testing.T) {
			inspectArchive(t, want, a, opts)
		})
		t.Logf("%s %s: %s", a.ref, a.digest, sizes(a))
	}
}

func inspectArchive(t *testing.T, want image, built builtImage, opts options) {
	dir := t.TempDir()
	untar(t, built.archive, dir, false)
	ref := opts.registry + "/" + want.name + ":" + opts.tag

	var top struct {
		Manifests []v1.Descriptor `json:"manifests"`
	}
	readJSON(t, filepath.Join(dir, "index.json"), &top)
	if len(top.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one image index", len(top.Manifests))
	}
	for _, key := range []string{annotationRefName, annotationContainerdName} {
		if got := top.Manifests[0].Annotations[key]; got != ref {
			t.Errorf("index.json's %s is %q, want %q", key, got, ref)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	index, err := outer.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(index); err != nil {
		t.Fatalf("the image index is not valid: %v", err)
	}
	if d, _ := index.Digest(); d != built.digest {
		t.Errorf("the archive's index is %s, the build reported %s", d, built.digest)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		annotationSource: opts.source, annotationVersion: opts.tag, annotationRevision: opts.revision,
		annotationCreated: "2023-11-14T22:13:20Z", annotationTitle: want.title,
	}
	if !maps.Equal(manifest.Annotations, wantLabels) {
		t.Errorf("index annotations %v, want %v", manifest.Annotations, wantLabels)
	}
	var platforms []v1.Platform
	for _, m := range manifest.Manifests {
		if m.ArtifactType != "" {
			t.Errorf("the index entry of %s has an artifactType, which skopeo 1.9 drops on push (changing the digest)", m.Platform)
		}
		platforms = append(platforms, *m.Platform)
		img, err := index.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(m.Platform.Architecture, func(t *testing.T) {
			inspectImage(t, want, img, *m.Platform, wantLabels)
		})
	}
	if !slices.EqualFunc(platforms, want.platforms, func(a, b v1.Platform) bool { return a.Equals(b) }) {
		t.Errorf("platforms %v, want %v", platforms, want.platforms)
	}
}

func inspectImage(t *testing.T, want image, img v1.Image, platform v1.Platform, wantLabels map[string]string) {
	if err := validate.Image(img); err != nil {
		t.Fatalf("not a valid image: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(wellknown.NonRootUID)
	if cfg.Config.User != uid+":"+uid {
		t.Errorf("user %q, want %s:%s", cfg.Config.User, uid, uid)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/" + want.binary}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/%s] and no cmd", cfg.Config.Entrypoint, cfg.Config.Cmd, want.binary)
	}
	if cfg.OS != platform.OS || cfg.Architecture != platform.Architecture {
		t.Errorf("config says %s/%s, the index %s/%s", cfg.OS, cfg.Architecture, platform.OS, platform.Architecture)
	}
	if !maps.Equal(cfg.Config.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", cfg.Config.Labels, wantLabels)
	}
	var wantPorts []string
	for _, port := range want.ports {
		wantPorts = append(wantPorts, strconv.Itoa(port)+"/tcp")
	}
	if got := slices.Sorted(maps.Keys(cfg.Config.ExposedPorts)); !slices.Equal(got, wantPorts) {
		t.Errorf("exposed ports %v, want %v", got, wantPorts)
	}

	rootfs := t.TempDir()
	files := unpackImage(t, img, rootfs)
	for _, shell := range []string{"/bin/sh", "/bin/bash", "/bin/busybox", "/usr/bin/env"} {
		if _, ok := files[shell]; ok {
			t.Errorf("the image holds %s", shell)
		}
	}
	wantFiles := []string{
		"/etc/", "/etc/group", "/etc/passwd", "/etc/ssl/", "/etc/ssl/certs/", "/etc/ssl/certs/ca-certificates.crt",
		"/home/", "/home/nonroot/", "/tmp/", "/" + want.binary, sbomPath,
	}
	binary := filepath.Join(rootfs, want.binary)
	bin, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[platform.Architecture]
	if bin.Machine != wantMachine {
		t.Errorf("the binary is for %v, want %v", bin.Machine, wantMachine)
	}
	interp := ""
	for _, prog := range bin.Progs {
		if prog.Type == elf.PT_INTERP {
			interp = "dynamic"
		}
	}
	if want.cgo {
		// Exactly what the host's loader resolves for the binary shipped, and its directories.
		libs, err := sharedLibraries(binary)
		if err != nil {
			t.Fatal(err)
		}
		for _, lib := range libs {
			wantFiles = append(wantFiles, lib.path)
			for dir := filepath.Dir(lib.path); dir != "/"; dir = filepath.Dir(dir) {
				wantFiles = append(wantFiles, dir+"/")
			}
		}
		if !slices.ContainsFunc(libs, func(f file) bool { return strings.Contains(f.path, "libstdc++") }) {
			t.Errorf("DuckDB is C++, yet the libraries are %v", libs)
		}
	} else if interp != "" {
		t.Errorf("%s is dynamically linked; the image has no libraries for it", want.binary)
	}
	slices.Sort(wantFiles)
	wantFiles = slices.Compact(wantFiles)
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, wantFiles) {
		t.Errorf("files\n %q\nwant\n %q", got, wantFiles)
	}

	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(passwd), "\nnonroot:x:"+uid+":"+uid+":") {
		t.Errorf("/etc/passwd has no nonroot %s:\n%s", uid, passwd)
	}
	if h := files["/tmp/"]; h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp has mode %o, want 1777", h.Mode)
	}

	var sbom spdxDoc
	readJSON(t, filepath.Join(rootfs, sbomPath), &sbom)
	names := map[string]string{}
	for _, p := range sbom.Packages {
		names[p.Name] = p.VersionInfo
	}
	mainModule := "github.com/telemetrylake/telemetrylake"
	if want.module != "." {
		mainModule += "/" + want.module
	}
	// One module each binary surely links, and for the lakehouse the Debian packages of its libraries.
	wantDeps := append([]string{mainModule, "stdlib", "ca-certificates"}, map[string][]string{
		"operator":  {"sigs.k8s.io/controller-runtime"},
		"ingester":  {"github.com/klauspost/compress"},
		"lakehouse": {"github.com/duckdb/duckdb-go/v2", "libstdc++6", "libc6", "libgcc-s1"},
	}[want.name]...)
	for _, dep := range wantDeps {
		if names[dep] == "" {
			t.Errorf("the SBOM lists no %s with a version (packages: %v)", dep, names)
		}
	}
	if names["stdlib"] != runtime.Version() {
		t.Errorf("the SBOM's Go is %q, the build's %q", names["stdlib"], runtime.Version())
	}

	if platform.Architecture == runtime.GOARCH {
		runsInItsOwnFileSystem(t, want, rootfs, cfg.Config.Env)
	}
}

// runsInItsOwnFileSystem starts the image's entrypoint with the image's files as its whole root,
// as the image's user: for the lakehouse, a query through DuckDB proves that the libraries
// listed are the ones it needs.
func runsInItsOwnFileSystem(t *testing.T, want image, rootfs string, env []string) {
	if want.name == "pause" {
		pausesUntilTerminated(t, rootfs)
		return
	}
	args := map[string][]string{
		"operator":  {"--help"},
		"ingester":  {"token", "new", "--name", "smoke"},
		"lakehouse": {"sql", "--storage", "file:///tmp/lake", "--cache", "/tmp/cache", "--format", "csv", "SELECT 6 * 7 AS answer"},
	}[want.name]
	if err := os.MkdirAll(filepath.Join(rootfs, "tmp/lake"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp/lake"), 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/"+want.binary, args...)
	cmd.Dir = "/"
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     rootfs,
		Credential: &syscall.Credential{Uid: wellknown.NonRootUID, Gid: wellknown.NonRootUID},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) || err == nil {
		wantOut := map[string]string{"operator": "-ingester-image", "ingester": "tlk_", "lakehouse": "42"}[want.name]
		if err != nil || !strings.Contains(string(out), wantOut) {
			t.Errorf("/%s %q in the image's own file system: %v, output:\n%s", want.binary, args, err, out)
		}
		return
	}
	t.Fatalf("starting /%s chrooted into the image as uid %d needs root (CAP_SYS_CHROOT, CAP_SETUID): %v", want.binary, wellknown.NonRootUID, err)
}

// pausesUntilTerminated checks that the sandbox image's process stays up until SIGTERM, and
// then exits 0, as a runtime stopping a pod expects.
func pausesUntilTerminated(t *testing.T, rootfs string) {
	cmd := exec.Command("/pause")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     rootfs,
		Credential: &syscall.Credential{Uid: wellknown.NonRootUID, Gid: wellknown.NonRootUID},
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting /pause chrooted into its image needs root: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("/pause exited on its own: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("/pause after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("/pause did not exit within 5 s of SIGTERM")
	}
}

// unpackImage writes the image's flattened file system into dir and returns its entries by path
// ("/etc/" for a directory).
func unpackImage(t *testing.T, img v1.Image, dir string) map[string]*tar.Header {
	rc := mutate.Extract(img)
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return untar(t, path, dir, true)
}

func untar(t *testing.T, archive, dir string, keepModes bool) map[string]*tar.Header {
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		key := "/" + strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeDir {
			key += "/" // mutate.Extract names directories without the slash, a layer with it
		}
		entries[key] = h
		target := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: entry %s of type %c: the images hold only files and directories", archive, h.Name, h.Typeflag)
		}
		if keepModes {
			if err := os.Chmod(target, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func modeBits(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// copyOfRepository copies the files git knows of (tracked or not ignored) to another directory,
// so that a second build differs from the first in its path and its absence of .git.
func copyOfRepository(t *testing.T, repo string) string {
	out, err := exec.Command("git", "-C", repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "elsewhere", "telemetrylake")
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(repo, name)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func fileSum(t *testing.T, path string) [32]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func readJSON(t *testing.T, path string, v any) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
