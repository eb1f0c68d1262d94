package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeArchive writes the platforms' images and an image index of them as an OCI image layout in
// layoutDir, tagged ref, and packs that directory into archivePath as a tar whose bytes depend
// only on the layout's content (sorted entries, fixed times and modes), so that the archive
// itself is reproducible, not only the digests inside it. It returns the digest of the index.
//
// The index is written here rather than by mutate.AppendManifests, which gives each entry an
// artifactType: tools built on an older image-spec (skopeo 1.9, Debian's) drop that field and
// re-serialize the index on push, so the registry's digest would not be the one printed here.
func writeArchive(archivePath, layoutDir string, images []v1.Image, platforms []v1.Platform, annotations map[string]string, ref string, epoch time.Time) (v1.Hash, error) {
	if err := os.RemoveAll(layoutDir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Annotations: annotations}
	for i, img := range images {
		if err := p.WriteImage(img); err != nil {
			return v1.Hash{}, fmt.Errorf("writing the OCI layout: %w", err)
		}
		desc, err := partial.Descriptor(img)
		if err != nil {
			return v1.Hash{}, err
		}
		platform := platforms[i]
		index.Manifests = append(index.Manifests, v1.Descriptor{
			MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, Platform: &platform,
		})
	}
	raw, err := json.Marshal(index)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.WriteBlob(digest, io.NopCloser(bytes.NewReader(raw))); err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendDescriptor(v1.Descriptor{
		MediaType: types.OCIImageIndex, Size: size, Digest: digest,
		Annotations: map[string]string{annotationRefName: ref, annotationContainerdName: ref},
	}); err != nil {
		return v1.Hash{}, err
	}

	tmp := archivePath + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(out)
	// WalkDir visits entries in lexical order.
	err = filepath.WalkDir(layoutDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == layoutDir {
			return err
		}
		name, err := filepath.Rel(layoutDir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(name), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Size = info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("packing %s: %w", archivePath, err)
	}
	if err := os.Rename(tmp, archivePath); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}
