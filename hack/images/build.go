package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// OCI annotation and label keys, as the OCI image spec defines them.
const (
	annotationSource   = "org.opencontainers.image.source"
	annotationVersion  = "org.opencontainers.image.version"
	annotationRevision = "org.opencontainers.image.revision"
	annotationCreated  = "org.opencontainers.image.created"
	annotationTitle    = "org.opencontainers.image.title"
	annotationRefName  = "org.opencontainers.image.ref.name"
	// containerd (ctr images import) and docker load name an imported image by this annotation.
	annotationContainerdName = "io.containerd.image.name"
)

// sbomPath is where each image carries the SBOM of its binary.
const sbomPath = "/sbom.spdx.json"

// builtImage is one archive written.
type builtImage struct {
	name, ref string
	archive   string
	digest    v1.Hash // of the image index: what a registry reports after a push
	platforms []builtPlatform
}

type builtPlatform struct {
	platform        v1.Platform
	digest          v1.Hash // of the platform's manifest
	compressedBytes int64   // the layers as stored and pulled
	unpackedBytes   int64   // the files on disk once unpacked
}

func buildAll(ctx context.Context, opts options, workDir string) ([]builtImage, error) {
	if err := os.MkdirAll(opts.outDir, 0o755); err != nil {
		return nil, err
	}
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	for _, name := range opts.only {
		if !slices.ContainsFunc(images, func(img image) bool { return img.name == name }) {
			return nil, fmt.Errorf("no image is named %q", name)
		}
	}
	var built []builtImage
	for _, img := range images {
		if wanted := len(opts.only) == 0 && !img.localOnly || slices.Contains(opts.only, img.name); !wanted {
			continue
		}
		if opts.hostOnly {
			img.platforms = slices.DeleteFunc(slices.Clone(img.platforms), func(p v1.Platform) bool { return p.Architecture != runtime.GOARCH })
		}
		b, err := buildImage(ctx, opts, workDir, img, base)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.name, err)
		}
		built = append(built, b)
	}
	return built, nil
}

func buildImage(ctx context.Context, opts options, workDir string, img image, base []file) (builtImage, error) {
	ref := opts.registry + "/" + img.name + ":" + opts.tag
	labels := map[string]string{
		annotationSource:   opts.source,
		annotationVersion:  opts.tag,
		annotationRevision: opts.revision,
		annotationCreated:  opts.epoch.Format("2006-01-02T15:04:05Z"),
		annotationTitle:    img.title,
	}
	out := builtImage{name: img.name, ref: ref, archive: filepath.Join(opts.outDir, img.name+".tar")}
	var manifests []v1.Image
	for _, platform := range img.platforms {
		binPath := filepath.Join(workDir, img.name+"-"+platform.OS+"-"+platform.Architecture, img.binary)
		opts.log("building %s for %s/%s", img.name, platform.OS, platform.Architecture)
		if err := goBuild(ctx, opts.repoRoot, img, platform, binPath); err != nil {
			return builtImage{}, err
		}
		manifest, bp, err := platformImage(opts, img, platform, binPath, base, labels)
		if err != nil {
			return builtImage{}, fmt.Errorf("%s/%s: %w", platform.OS, platform.Architecture, err)
		}
		out.platforms = append(out.platforms, bp)
		manifests = append(manifests, manifest)
	}
	digest, err := writeArchive(out.archive, filepath.Join(workDir, img.name+"-layout"), manifests, img.platforms, labels, ref, opts.epoch)
	if err != nil {
		return builtImage{}, err
	}
	out.digest = digest
	return out, nil
}

// goBuild builds one binary. -trimpath and -buildvcs=false keep the build directory and the
// checkout's state (a clean or dirty tree, a clone or an export) out of the binary, so that only
// the source and the toolchain decide its bytes; the commit is in the image's revision label.
// -s -w drop the symbol table and DWARF: they are a third of the static binaries.
func goBuild(ctx context.Context, repoRoot string, img image, platform v1.Platform, out string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out}
	if len(img.tags) > 0 {
		args = append(args, "-tags", strings.Join(img.tags, ","))
	}
	args = append(args, img.pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(repoRoot, img.module)
	cgo := "0"
	if img.cgo {
		cgo = "1"
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOOS="+platform.OS, "GOARCH="+platform.Architecture,
		// A caller's go.work or GOFLAGS (-mod=..., -race) must not change what ships.
		"GOWORK=off", "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (in %s): %w", strings.Join(args, " "), cmd.Dir, err)
	}
	return nil
}

// platformImage assembles one platform's image: base layer, shared libraries (cgo only), binary.
func platformImage(opts options, img image, platform v1.Platform, binPath string, base []file, labels map[string]string) (v1.Image, builtPlatform, error) {
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return nil, builtPlatform{}, err
	}
	var libs []file
	if img.cgo {
		if libs, err = sharedLibraries(binPath); err != nil {
			return nil, builtPlatform{}, err
		}
	}
	sbom, err := spdxDocument(sbomInput{
		imageRef: opts.registry + "/" + img.name + ":" + opts.tag, platform: platform,
		binaryPath: "/" + img.binary, binary: binary, binaryFile: binPath,
		version: opts.tag, title: img.title, created: opts.epoch,
		hostFiles: append(slices.Clone(base), libs...),
	})
	if err != nil {
		return nil, builtPlatform{}, fmt.Errorf("SBOM: %w", err)
	}
	appFiles := []file{
		{path: "/" + img.binary, mode: 0o755, data: binary},
		{path: sbomPath, mode: 0o644, data: sbom},
	}

	layers := []struct {
		files     []file
		createdBy string
	}{
		{base, "hack/images: CA certificates, /etc/passwd and /etc/group (nonroot 65532), /home/nonroot, /tmp"},
		{libs, "hack/images: shared libraries as ldd resolves them, and the dynamic loader"},
		{appFiles, "hack/images: go build -trimpath " + img.pkg + " and its SBOM"},
	}
	result := empty.Image
	bp := builtPlatform{platform: platform}
	for _, l := range layers {
		if len(l.files) == 0 {
			continue
		}
		layer, unpacked, err := tarLayer(l.files, opts.epoch)
		if err != nil {
			return nil, builtPlatform{}, err
		}
		size, err := layer.Size()
		if err != nil {
			return nil, builtPlatform{}, err
		}
		bp.compressedBytes += size
		bp.unpackedBytes += unpacked
		result, err = mutate.Append(result, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: opts.epoch}, CreatedBy: l.createdBy},
		})
		if err != nil {
			return nil, builtPlatform{}, err
		}
	}

	cfg, err := result.ConfigFile()
	if err != nil {
		return nil, builtPlatform{}, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = platform.OS, platform.Architecture
	cfg.Created = v1.Time{Time: opts.epoch}
	uid := strconv.Itoa(wellknown.NonRootUID)
	cfg.Config = v1.Config{
		User:       uid + ":" + uid,
		Entrypoint: []string{"/" + img.binary},
		WorkingDir: "/",
		Env:        slices.Clone(img.env),
		Labels:     labels,
	}
	if len(img.ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range img.ports {
			cfg.Config.ExposedPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
		}
	}
	result = mutate.MediaType(result, types.OCIManifestSchema1)
	result = mutate.ConfigMediaType(result, types.OCIConfigJSON)
	if result, err = mutate.ConfigFile(result, cfg); err != nil {
		return nil, builtPlatform{}, err
	}
	result = mutate.Annotations(result, labels).(v1.Image)
	if bp.digest, err = result.Digest(); err != nil {
		return nil, builtPlatform{}, err
	}
	return result, bp, nil
}

// file is one regular file or directory of a layer.
type file struct {
	path     string // absolute, in the image
	mode     int64  // permission bits (and the sticky bit)
	dir      bool
	uid      int
	data     []byte
	hostPath string // where it came from on the build host, for the SBOM; empty if made here
	// debianPackage: the package a host file comes from when dpkg records no owner for it.
	debianPackage string
}

// tarLayer writes files (and every parent directory not listed) as one gzip-compressed layer,
// sorted, owned by uid:0 with numeric ids only and no user or group names, every time at epoch.
// It returns the layer and the bytes its files take unpacked.
func tarLayer(files []file, epoch time.Time) (v1.Layer, int64, error) {
	entries := map[string]file{}
	for _, f := range files {
		for dir := filepath.Dir(f.path); dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = file{path: dir, mode: 0o755, dir: true}
			}
		}
		entries[f.path] = f
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	var buf bytes.Buffer
	var unpacked int64
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid,
			ModTime: epoch,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
			unpacked += h.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, 0, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	return layer, unpacked, err
}
