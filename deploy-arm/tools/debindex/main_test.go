package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildDeb makes a real .deb with dpkg-deb from a control file and files, compressed with comp.
func buildDeb(t *testing.T, control string, files map[string]string, comp string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatalf("dpkg-deb is needed to build test packages: %v", err)
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for name, body := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(dir, "p.deb")
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+comp, "-b", tree, deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, out)
	}
	return deb
}

func TestIndex(t *testing.T) {
	libfoo := buildDeb(t, "Package: libfoo1\nVersion: 1.2-3\nArchitecture: arm64\nMulti-Arch: same\nMaintainer: x <x@localhost>\nDescription: foo\n",
		map[string]string{"usr/lib/aarch64-linux-gnu/libfoo.so.1": "elf", "DEBIAN/shlibs": "libfoo 1 libfoo1 (>= 1.2)\n"}, "xz")
	tool := buildDeb(t, "Package: footool\nVersion: 2.0\nArchitecture: arm64\nMaintainer: x <x@localhost>\nDescription: tool\n",
		map[string]string{"usr/bin/footool": "elf"}, "gzip")
	admin := filepath.Join(t.TempDir(), "dpkg")
	if err := run([]string{"-admindir", admin, libfoo, tool}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(admin, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("info/libfoo1:arm64.list"); !strings.Contains(got, "/usr/lib/aarch64-linux-gnu/libfoo.so.1\n") || !strings.HasPrefix(got, "/.\n") {
		t.Errorf("libfoo1 list:\n%s", got)
	}
	if got := read("info/footool.list"); !strings.Contains(got, "/usr/bin/footool\n") {
		t.Errorf("footool list:\n%s", got)
	}
	if got := read("info/libfoo1:arm64.shlibs"); got != "libfoo 1 libfoo1 (>= 1.2)\n" {
		t.Errorf("shlibs = %q", got)
	}
	if got := read("status"); !strings.Contains(got, "Package: libfoo1\nStatus: install ok installed\n") ||
		!strings.Contains(got, "Package: footool\nStatus: install ok installed\n") {
		t.Errorf("status:\n%s", got)
	}
	if err := os.WriteFile(filepath.Join(admin, "arch"), []byte("arm64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// dpkg itself must read the database.
	out, err := exec.Command("dpkg-query", "--admindir="+admin, "-S", "/usr/lib/aarch64-linux-gnu/libfoo.so.1").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "libfoo1:arm64: ") {
		t.Errorf("dpkg-query -S: %v\n%s", err, out)
	}
}

func TestIndexErrors(t *testing.T) {
	dir := t.TempDir()
	notDeb := filepath.Join(dir, "x.deb")
	if err := os.WriteFile(notDeb, []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-admindir", filepath.Join(dir, "db"), notDeb}); err == nil || !strings.Contains(err.Error(), "not an ar archive") {
		t.Errorf("run on a non-deb = %v", err)
	}
	if err := run([]string{"-admindir", filepath.Join(dir, "db")}); err == nil {
		t.Error("run without packages succeeded")
	}
}
