package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The SBOM is an SPDX 2.3 JSON document at /sbom.spdx.json in each image (and so covered by the
// image's digest), made from what the image really holds: the Go build info embedded in the
// binary (main module, every dependency with its version and go.sum hash, the toolchain and the
// build settings) and, for each file copied from the build host, the Debian package that owns
// it. SPDX rather than a format of our own because scanners (Trivy, Grype, syft) read it.

type sbomInput struct {
	imageRef   string
	platform   v1.Platform
	binaryPath string // in the image
	binary     []byte
	binaryFile string // on the build host, for its build info
	version    string
	title      string
	created    time.Time
	hostFiles  []file // files copied from the build host
}

type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Files             []spdxFile         `json:"files"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
	Supplier              string            `json:"supplier,omitempty"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	Description           string            `json:"description,omitempty"`
	Comment               string            `json:"comment,omitempty"`
}

type spdxFile struct {
	SPDXID    string         `json:"SPDXID"`
	FileName  string         `json:"fileName"`
	Checksums []spdxChecksum `json:"checksums"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

func spdxDocument(in sbomInput) ([]byte, error) {
	info, err := buildinfo.ReadFile(in.binaryFile)
	if err != nil {
		return nil, fmt.Errorf("reading the Go build info of %s: %w", in.binaryFile, err)
	}
	binarySum := sha256Hex(in.binary)
	platform := in.platform.OS + "/" + in.platform.Architecture
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        in.imageRef + " " + platform,
		// Unique per binary, and reproducible: derived from what it describes, not from a clock.
		DocumentNamespace: "https://telemetrylake.io/spdx/" + strings.NewReplacer("/", "-", ":", "-").Replace(in.imageRef+"-"+platform) + "-" + binarySum[:16],
		CreationInfo: spdxCreationInfo{
			Created:  in.created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: telemetrylake-hack-images", "Tool: " + info.GoVersion},
		},
	}
	rel := func(a, typ, b string) {
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: a, Type: typ, Related: b})
	}

	imageID := "SPDXRef-Image"
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: imageID, Name: in.imageRef, VersionInfo: in.version, DownloadLocation: noAssertion,
		PrimaryPackagePurpose: "CONTAINER", Description: in.title + ", " + platform,
	})
	rel("SPDXRef-DOCUMENT", "DESCRIBES", imageID)

	binaryID := "SPDXRef-File-binary"
	doc.Files = append(doc.Files, spdxFile{SPDXID: binaryID, FileName: in.binaryPath,
		Checksums: []spdxChecksum{{Algorithm: "SHA256", Value: binarySum}}})
	rel(imageID, "CONTAINS", binaryID)

	mainID := "SPDXRef-Go-main"
	mainVersion := info.Main.Version
	if mainVersion == "" || mainVersion == "(devel)" {
		mainVersion = in.version
	}
	var settings []string
	for _, s := range info.Settings {
		settings = append(settings, s.Key+"="+s.Value)
	}
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: mainID, Name: info.Main.Path, VersionInfo: mainVersion, DownloadLocation: noAssertion,
		PrimaryPackagePurpose: "APPLICATION", ExternalRefs: []spdxExternalRef{goPURL(info.Main.Path, mainVersion)},
		Comment: "main package " + info.Path + "; go build settings: " + strings.Join(settings, " "),
	})
	rel(binaryID, "GENERATED_FROM", mainID)

	stdlibID := "SPDXRef-Go-stdlib"
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: stdlibID, Name: "stdlib", VersionInfo: info.GoVersion, DownloadLocation: noAssertion,
		PrimaryPackagePurpose: "LIBRARY", ExternalRefs: []spdxExternalRef{goPURL("stdlib", info.GoVersion)},
	})
	rel(mainID, "DEPENDS_ON", stdlibID)

	for i, dep := range info.Deps {
		m := dep
		comment := ""
		if dep.Replace != nil {
			comment = "replaces " + dep.Path + " " + dep.Version
			m = dep.Replace
		}
		version := m.Version
		if version == "" {
			// A replacement by a local directory (the lakehouse's ../): the repository itself.
			version = in.version
		}
		if m.Sum != "" {
			comment = strings.TrimPrefix(comment+"; go.sum "+m.Sum, "; ")
		}
		id := fmt.Sprintf("SPDXRef-Go-%d", i)
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID: id, Name: dep.Path, VersionInfo: version, DownloadLocation: noAssertion,
			PrimaryPackagePurpose: "LIBRARY", ExternalRefs: []spdxExternalRef{goPURL(dep.Path, version)},
			Comment: comment,
		})
		rel(mainID, "DEPENDS_ON", id)
	}

	debIDs := map[string]string{}
	for i, f := range in.hostFiles {
		if f.hostPath == "" {
			continue
		}
		fileID := fmt.Sprintf("SPDXRef-File-%d", i)
		doc.Files = append(doc.Files, spdxFile{SPDXID: fileID, FileName: f.path,
			Checksums: []spdxChecksum{{Algorithm: "SHA256", Value: sha256Hex(f.data)}}})
		rel(imageID, "CONTAINS", fileID)
		pkg, version, arch, ok := debianPackageOf(f.hostPath, f.debianPackage)
		if !ok {
			continue
		}
		id, seen := debIDs[pkg]
		if !seen {
			id = "SPDXRef-Deb-" + strings.NewReplacer(":", "-", "+", "-").Replace(pkg)
			debIDs[pkg] = id
			doc.Packages = append(doc.Packages, spdxPackage{
				SPDXID: id, Name: strings.Split(pkg, ":")[0], VersionInfo: version, DownloadLocation: noAssertion,
				PrimaryPackagePurpose: "LIBRARY", Supplier: "Organization: Debian",
				ExternalRefs: []spdxExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl",
					Locator: "pkg:deb/debian/" + strings.Split(pkg, ":")[0] + "@" + version + "?arch=" + arch}},
			})
			rel(imageID, "CONTAINS", id)
		}
		rel(fileID, "GENERATED_FROM", id)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func goPURL(path, version string) spdxExternalRef {
	return spdxExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}

// debianPackageOf asks dpkg which package installed a file. With Debian's merged /usr a library
// that ldd finds under /lib is recorded by dpkg under /usr/lib, or the other way round, so both
// spellings are asked. A host without dpkg gives files without a package, never a guess.
func debianPackageOf(path, fallback string) (pkg, version, arch string, ok bool) {
	candidates := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		candidates = append(candidates, real)
	}
	for _, c := range append([]string(nil), candidates...) {
		if strings.HasPrefix(c, "/usr/") {
			candidates = append(candidates, strings.TrimPrefix(c, "/usr"))
		} else {
			candidates = append(candidates, "/usr"+c)
		}
	}
	for _, c := range candidates {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		// "libstdc++6:amd64: /usr/lib/x86_64-linux-gnu/libstdc++.so.6"
		name, _, found := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], ": ")
		if !found || strings.Contains(name, ",") {
			continue
		}
		if version, arch, ok = debianVersion(name); ok {
			return name, version, arch, true
		}
	}
	if fallback != "" {
		if version, arch, ok = debianVersion(fallback); ok {
			return fallback, version, arch, true
		}
	}
	return "", "", "", false
}

func debianVersion(pkg string) (version, arch string, ok bool) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version} ${Architecture}", pkg).Output()
	if err != nil {
		return "", "", false
	}
	version, arch, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	return version, arch, version != ""
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
