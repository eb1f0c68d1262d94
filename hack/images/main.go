// Command images builds the TelemetryLake images (operator, ingester, lakehouse) as OCI archives,
// with no Docker engine and no registry: `make images` runs it, and so do the tests, the demo and
// CI. It is the one way the images are built.
//
// Each image is assembled from files, never from a base image that would have to be pulled:
//
//   - a base layer with only the CA certificates of the build host (Debian's ca-certificates),
//     /etc/passwd and /etc/group with the "nonroot" user 65532, its home and /tmp;
//   - the binary, built by `go build -trimpath -buildvcs=false` (static for the operator and the
//     ingester, for linux/amd64 and linux/arm64), and its SBOM at /sbom.spdx.json, made from the
//     binary's own Go build info;
//   - for the lakehouse (cgo, DuckDB) the shared libraries its binary needs, exactly as the
//     dynamic loader resolves them (ldd), and the loader itself: no shell, no package manager.
//
// Everything that could vary between two builds of the same source is fixed: file times and
// the config's creation time are SOURCE_DATE_EPOCH, owners are numeric, entries are sorted, the
// build records no VCS state and no path. The same source and flags give the same digests.
//
// Each archive (bin/images/<name>.tar) is an OCI image layout whose index.json names one image
// index (one manifest per platform), tagged <registry>/<name>:<tag>: `ctr images import`,
// `podman load`, `docker load` and `skopeo copy oci-archive:` all read it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// image says what one image holds; the list of them is images below.
type image struct {
	name      string   // the repository's last element and the archive's name
	module    string   // directory of the Go module, relative to the repository root
	pkg       string   // the main package, relative to module
	binary    string   // the file at the root of the image, and its entrypoint
	cgo       bool     // linked against libc: the image gets the shared libraries it needs
	tags      []string // build tags
	ports     []int    // TCP ports the image declares (documentation; the pod spec opens them)
	env       []string
	platforms []v1.Platform
	title     string // org.opencontainers.image.title and the SBOM's description
	// localOnly: not a product image, built only when named (--only): the local cluster's own.
	localOnly bool
}

// staticPlatforms are the platforms of the static images. The cgo image is built only for the
// builder's own platform: cross-linking DuckDB would need a cross C++ toolchain and the target's
// libraries, which the build host does not have.
var staticPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

var images = []image{
	{
		name: "operator", module: ".", pkg: "./cmd/manager", binary: "manager",
		platforms: staticPlatforms,
		title:     "TelemetryLake operator",
	},
	{
		name: "ingester", module: ".", pkg: "./cmd/ingester", binary: "ingester",
		ports:     []int{wellknown.OTLPHTTPPort, wellknown.MetricsPort},
		platforms: staticPlatforms,
		title:     "TelemetryLake ingester (OTLP/HTTP)",
	},
	{
		name: "lakehouse", module: "lakehouse", pkg: "./cmd/lakehouse", binary: "lakehouse",
		cgo: true, tags: []string{"duckdb_arrow"},
		// DuckDB spills and caches parts under TMPDIR; the CronJob mounts an emptyDir at /tmp.
		env:       []string{"TMPDIR=/tmp"},
		platforms: []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}},
		title:     "TelemetryLake lakehouse (materialize, compact, SQL)",
	},
	{
		name: "pause", module: ".", pkg: "./hack/images/pause", binary: "pause",
		platforms: []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}},
		title:     "TelemetryLake local cluster's pod sandbox (pause)",
		localOnly: true,
	},
}

// options are what a build depends on besides the source.
type options struct {
	repoRoot string
	outDir   string
	registry string    // e.g. ghcr.io/telemetrylake
	tag      string    // the images' tag and org.opencontainers.image.version
	revision string    // org.opencontainers.image.revision: the commit built
	source   string    // org.opencontainers.image.source
	epoch    time.Time // every file time and the config's creation time
	only     []string  // image names to build; when empty, every image but the local-only ones
	// hostOnly builds each image for this machine's platform alone: the local cluster's real
	// node runs no other, and an arm64 build of the ingester costs it ~10 s.
	hostOnly bool
	log      func(format string, args ...any)
}

func main() {
	var (
		opts    options
		epoch   string
		only    string
		workDir string
	)
	flag.StringVar(&opts.repoRoot, "repo", ".", "repository root")
	flag.StringVar(&opts.outDir, "out", "bin/images", "directory of the archives")
	flag.StringVar(&opts.registry, "registry", "ghcr.io/telemetrylake", "registry and namespace of the image names")
	flag.StringVar(&opts.tag, "tag", "", "tag of the images, also their org.opencontainers.image.version (required)")
	flag.StringVar(&opts.revision, "revision", "", "commit built, for org.opencontainers.image.revision (required)")
	flag.StringVar(&opts.source, "source", "https://github.com/telemetrylake/telemetrylake", "org.opencontainers.image.source")
	flag.StringVar(&epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "unix time of every file and of the config's creation (default $SOURCE_DATE_EPOCH, else 0)")
	flag.StringVar(&only, "only", "", "comma-separated image names to build (default operator,ingester,lakehouse; pause is the local cluster's sandbox image)")
	flag.BoolVar(&opts.hostOnly, "host-platform-only", false, "build each image for linux/"+runtime.GOARCH+" alone (for the local cluster's node)")
	flag.StringVar(&workDir, "work", "", "directory for intermediate files (default a temporary one, removed afterwards)")
	flag.Parse()
	opts.log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "images: "+format+"\n", args...) }
	if opts.tag == "" || opts.revision == "" {
		fmt.Fprintln(os.Stderr, "images: --tag and --revision are required (make images passes them)")
		os.Exit(2)
	}
	secs := int64(0)
	if epoch != "" {
		var err error
		if secs, err = strconv.ParseInt(epoch, 10, 64); err != nil {
			fmt.Fprintf(os.Stderr, "images: --source-date-epoch %q is not a unix time in seconds\n", epoch)
			os.Exit(2)
		}
	}
	opts.epoch = time.Unix(secs, 0).UTC()
	if only != "" {
		opts.only = strings.Split(only, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if workDir == "" {
		dir, err := os.MkdirTemp("", "telemetrylake-images-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "images:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		workDir = dir
	}
	built, err := buildAll(ctx, opts, workDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		stop()
		os.Exit(1)
	}
	for _, b := range built {
		rel, _ := filepath.Rel(opts.repoRoot, b.archive)
		fmt.Printf("%-60s %s  %s  %s\n", b.ref, b.digest, rel, sizes(b))
	}
}

func sizes(b builtImage) string {
	var parts []string
	for _, p := range b.platforms {
		parts = append(parts, fmt.Sprintf("%s/%s %.1f MiB compressed, %.1f MiB unpacked",
			p.platform.OS, p.platform.Architecture, float64(p.compressedBytes)/(1<<20), float64(p.unpackedBytes)/(1<<20)))
	}
	return strings.Join(parts, "; ")
}
