package docs

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestNoLinkLeavesTheRepository checks every tracked file: a relative Markdown link must resolve
// to a file in the repository (and, into a Markdown file, to one of its headings), and a document
// named in any file, such as `docs/contracts/storage.md` in a Go comment, must be there. The
// contracts once lived in a directory beside the repository, a dead link for anyone who cloned
// it; docs/contracts/README.md says where they are now.
func TestNoLinkLeavesTheRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := trackedFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "docs/contracts/README.md") {
		t.Fatalf("the listing of %s (%d files) lacks docs/contracts/README.md: not the repository's root?", root, len(files))
	}
	for _, p := range checkLinks(root, files) {
		t.Error(p)
	}
}

// TestTheLinkCheckFindsWhatIsBroken runs the check over a made-up repository, so that a check
// that finds nothing cannot pass for a repository with nothing to find.
func TestTheLinkCheckFindsWhatIsBroken(t *testing.T) {
	root := t.TempDir()
	md := ".md"
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/b"+md, "# B\n\n## 4.2 Block metadata\n\n## Twice\n\n## Twice\n")
	write("docs/a"+md, strings.Join([]string{
		"[fine](b" + md + ") [fine](b" + md + "#42-block-metadata) [fine](b" + md + "#twice-1) [fine](../README" + md + "#a)",
		"[fine](https://example.com/x" + md + ") [fine](../README" + md + ") `OTLP" + md + "` in code",
		"[gone](missing" + md + ")",
		"[no such heading](b" + md + "#4-object-layout)",
		"[outside](../../shared/OTLP" + md + ")",
		"[absolute](/work/shared/OTLP" + md + ")",
		"named but absent: LAKEHOUSE" + md,
		"```",
		"[inside a fence](nowhere" + md + ")",
		"```",
	}, "\n")+"\n")
	write("README"+md, "# A\n")
	write("x/c.go", strings.Join([]string{
		"// fine: docs/b" + md + " and b" + md + " and README" + md,
		"// gone: docs/contracts/storage" + md + " §4",
		`var p = "../../docs/b` + md + `"`,
		"// fine: https://git.k8s.io/api-conventions" + md,
	}, "\n")+"\n")
	write("x/blob.bin", "\x00 [gone](missing"+md+")")

	got := checkLinks(root, []string{"README" + md, "docs/a" + md, "docs/b" + md, "x/c.go", "x/blob.bin"})
	// The expected lines spell .md as .{md}, so that the check of this very file does not see them.
	want := []string{
		"docs/a.{md}:3: link missing.{md} does not resolve",
		"docs/a.{md}:4: link b.{md}#4-object-layout: b.{md} has no heading #4-object-layout",
		"docs/a.{md}:5: link ../../shared/OTLP.{md} points outside the repository",
		"docs/a.{md}:6: link /work/shared/OTLP.{md} is absolute: link relative to the file",
		"docs/a.{md}:7: names LAKEHOUSE.{md}, which is not in the repository",
		"x/c.go:2: names docs/contracts/storage.{md}, which is not in the repository",
		"x/c.go:3: names ../../docs/b.{md}, which points outside the repository",
	}
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], ".{md}", md)
	}
	if !slices.Equal(got, want) {
		t.Errorf("found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// trackedFiles lists the repository's files as git tracks them, or, outside a git checkout (a
// source tarball), every file under root but .git.
func trackedFiles(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err == nil {
		return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), nil
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}

var (
	// inlineLink is [text](target "title") or ![alt](target); target is group 1.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+[^)]*)?\)`)
	// referenceDef is [label]: target.
	referenceDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	htmlRef      = regexp.MustCompile(`(?:href|src)="([^"]*)"`)
	codeSpan     = regexp.MustCompile("`+[^`]*`+")
	fence        = regexp.MustCompile("^\\s{0,3}(```|~~~)")
	// urlish is anything with a scheme; what it names is not this repository's business.
	urlish = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>)\]]*`)
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// mention is a path to a Markdown document named in running text or code.
	mention = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:\.\.?/)*[A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b`)
	heading = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	htmlID  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// checkLinks returns every problem found in files (relative to root), as "file:line: what".
func checkLinks(root string, files []string) []string {
	c := &checker{root: root, basenames: map[string]bool{}, anchors: map[string]map[string]bool{}}
	for _, f := range files {
		c.basenames[path.Base(f)] = true
	}
	for _, f := range files {
		if strings.Contains(f, "/testdata/fuzz/") || strings.HasPrefix(f, "vendor/") || path.Base(f) == "go.sum" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		if bytes.IndexByte(data, 0) >= 0 {
			continue // not text
		}
		c.file(f, string(data))
	}
	return c.problems
}

type checker struct {
	root      string
	basenames map[string]bool            // of every file listed, for documents named bare ("README.md")
	anchors   map[string]map[string]bool // by Markdown file, relative to root
	problems  []string
}

func (c *checker) report(file string, line int, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s:%d: %s", file, line+1, fmt.Sprintf(format, args...)))
}

func (c *checker) file(name, text string) {
	isMarkdown := strings.HasSuffix(name, ".md")
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if !isMarkdown {
			c.mentions(name, i, line)
			continue
		}
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeSpan.ReplaceAllString(line, " ")
		var targets []string
		for _, re := range []*regexp.Regexp{inlineLink, referenceDef, htmlRef} {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				targets = append(targets, m[1])
			}
		}
		for _, target := range targets {
			c.link(name, i, target)
		}
		// What a document names outside its links must be there too; the targets were checked.
		prose := inlineLink.ReplaceAllStringFunc(line, func(l string) string { return l[:strings.LastIndex(l, "](")] })
		prose = referenceDef.ReplaceAllString(prose, " ")
		c.mentions(name, i, htmlRef.ReplaceAllString(prose, " "))
	}
}

// link checks one Markdown link target of file.
func (c *checker) link(file string, line int, target string) {
	if target == "" || scheme.MatchString(target) {
		return
	}
	p, fragment, _ := strings.Cut(target, "#")
	if unescaped, err := url.PathUnescape(p); err == nil {
		p = unescaped
	}
	if strings.HasPrefix(p, "/") {
		c.report(file, line, "link %s is absolute: link relative to the file", target)
		return
	}
	resolved := file
	if p != "" {
		var inside bool
		if resolved, inside = c.resolve(path.Dir(file), p); !inside {
			c.report(file, line, "link %s points outside the repository", target)
			return
		}
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(resolved))); err != nil {
			c.report(file, line, "link %s does not resolve", target)
			return
		}
	}
	if fragment != "" && strings.HasSuffix(resolved, ".md") && !c.anchorsOf(resolved)[fragment] {
		c.report(file, line, "link %s: %s has no heading #%s", target, path.Base(resolved), fragment)
	}
}

// mentions checks the Markdown documents a line names: each must be in the repository, relative
// to the file, to the root, or (named bare) anywhere.
func (c *checker) mentions(file string, line int, text string) {
	text = urlish.ReplaceAllString(text, " ")
	for _, m := range mention.FindAllStringSubmatch(text, -1) {
		name := m[1]
		fromFile, inside := c.resolve(path.Dir(file), name)
		switch {
		case !inside:
			c.report(file, line, "names %s, which points outside the repository", name)
		case c.exists(fromFile):
		case !strings.HasPrefix(name, "../") && c.exists(path.Clean(name)):
		case !strings.Contains(name, "/") && c.basenames[name]:
		default:
			c.report(file, line, "names %s, which is not in the repository", name)
		}
	}
}

// resolve joins a relative path to a directory of the repository; inside is false when the result
// leaves the repository.
func (c *checker) resolve(dir, rel string) (resolved string, inside bool) {
	resolved = path.Clean(path.Join(dir, rel))
	return resolved, resolved != ".." && !strings.HasPrefix(resolved, "../")
}

func (c *checker) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(rel)))
	return err == nil
}

// anchorsOf returns the fragments a Markdown file's headings answer to, as GitHub makes them.
func (c *checker) anchorsOf(file string) map[string]bool {
	if a, ok := c.anchors[file]; ok {
		return a
	}
	a := map[string]bool{}
	c.anchors[file] = a
	data, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(file)))
	if err != nil {
		return a
	}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(data), "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlID.FindAllStringSubmatch(line, -1) {
			a[m[1]] = true
		}
		h := heading.FindStringSubmatch(line)
		if h == nil {
			continue
		}
		s := slug(inlineLink.ReplaceAllStringFunc(h[1], func(l string) string { return l[strings.Index(l, "[")+1 : strings.LastIndex(l, "](")] }))
		if n := seen[s]; n > 0 {
			a[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			a[s] = true
		}
		seen[s]++
	}
	return a
}

// slug is GitHub's anchor for a heading: lower case, spaces to hyphens, other punctuation gone.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
