package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// anchor is the id GitHub gives a Markdown heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

var heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)

func TestCIRunNamesAReadmeSectionThatExists(t *testing.T) {
	m := regexp.MustCompile(`README\.md's "([^"]+)"`).FindStringSubmatch(readFile(t, ".ci/run"))
	if m == nil {
		t.Fatal(`.ci/run's header does not name the README section that points to it (README.md's "...")`)
	}
	if !regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(m[1]) + `$`).MatchString(readFile(t, "README.md")) {
		t.Errorf(`.ci/run names the README section %q, which README.md does not have`, m[1])
	}
}

func TestTheReadmeAndDocsLinkOnlyToFilesAndHeadingsThatExist(t *testing.T) {
	docs, _ := filepath.Glob("docs/*.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range append([]string{"README.md", "deploy/kubernetes/README.md"}, docs...) {
		for _, m := range link.FindAllStringSubmatch(readFile(t, page), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s links to %s, which does not exist", page, target)
					continue
				}
			}
			if frag == "" {
				continue
			}
			found := false
			for _, h := range heading.FindAllStringSubmatch(readFile(t, path), -1) {
				found = found || anchor(h[1]) == frag
			}
			if !found {
				t.Errorf("%s links to %s: %s has no heading #%s", page, target, path, frag)
			}
		}
	}
}

func TestTheReadmeLayoutNamesEveryPackageAndOnlyThose(t *testing.T) {
	readme := readFile(t, "README.md")
	_, after, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")

	// Every directory holding Go files: the top-level ones as "dir/", the
	// nested ones by name on their parent's line.
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".go" || filepath.Dir(path) == "." {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		top, rest, nested := strings.Cut(dir, "/")
		if !regexp.MustCompile(`(?m)(^|[ ,])` + regexp.QuoteMeta(top) + `/`).MatchString(block) {
			t.Errorf("the layout does not name %s/", top)
		} else if nested && !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(top)+`/.*\b`+regexp.QuoteMeta(rest)+`\b`).MatchString(block) {
			t.Errorf("the layout's %s/ line does not name %s", top, rest)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^((?:\S+, )*\S+)`).FindAllStringSubmatch(block, -1) {
		for _, name := range strings.Split(m[1], ", ") {
			if _, err := os.Stat(name); err != nil {
				t.Errorf("the layout names %s, which does not exist", name)
			}
		}
	}
}
