package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTheReadmesMapMatchesTheTree reads the table under README.md's "## Repository": every path
// it names must exist, and every top-level folder of the repository must be in it, so a folder
// added or moved without a line in the map fails here.
func TestTheReadmesMapMatchesTheTree(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := mappedPaths(string(readme))
	if len(named) < 5 {
		t.Fatalf("found %d paths in README.md's repository map: is the \"## Repository\" table still there?", len(named))
	}
	for _, p := range named {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Errorf("README.md's map names %s, which is not in the tree", p)
		}
	}
	files, err := trackedFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, f := range files {
		if top, _, nested := strings.Cut(f, "/"); nested && !strings.HasPrefix(top, ".") && !slices.Contains(folders, top) {
			folders = append(folders, top)
		}
	}
	for _, folder := range folders {
		if !slices.ContainsFunc(named, func(p string) bool { return p == folder || strings.HasPrefix(p, folder+"/") }) {
			t.Errorf("the top-level folder %s/ is not in README.md's repository map", folder)
		}
	}
}

var mapPath = regexp.MustCompile("`([A-Za-z0-9_./-]+)`")

// mappedPaths returns the paths in the first column of the table that follows "## Repository".
func mappedPaths(readme string) []string {
	_, section, found := strings.Cut(readme, "\n## Repository\n")
	if !found {
		return nil
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	var paths []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range mapPath.FindAllStringSubmatch(cells[1], -1) {
			paths = append(paths, strings.TrimSuffix(m[1], "/"))
		}
	}
	return paths
}
