// Command debindex records .deb files that were extracted (not installed) into a root as installed
// in that root's dpkg database, so that dpkg-query --admindir=ROOT/var/lib/dpkg -S and
// dpkg-shlibdeps --admindir can tell which package ships a shared library, with its shlibs and
// symbols files.
//
//	debindex -admindir ROOT/var/lib/dpkg ROOT/var/cache/apt/archives/*.deb
//
// mmdebstrap's extract variant unpacks packages with dpkg-deb and registers nothing; doing that here
// in one process instead of a dpkg-deb pipeline per package keeps a sysroot build fast.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxControl bounds a control member (control, shlibs, symbols) read into memory.
const maxControl = 64 << 20

// controlFiles are the control members copied into the database, as info/<pkg>.<name>.
var controlFiles = []string{"shlibs", "symbols", "triggers"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "debindex:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("debindex", flag.ContinueOnError)
	admin := fs.String("admindir", "", "dpkg database directory to write (ROOT/var/lib/dpkg)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin == "" || fs.NArg() == 0 {
		return errors.New("usage: debindex -admindir DIR DEB...")
	}
	if err := os.MkdirAll(filepath.Join(*admin, "info"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*admin, "updates"), 0o755); err != nil {
		return err
	}
	// Format 1 is the multiarch layout, which names info files as index does.
	if err := os.WriteFile(filepath.Join(*admin, "info", "format"), []byte("1\n"), 0o644); err != nil {
		return err
	}
	var status bytes.Buffer
	for _, deb := range fs.Args() {
		entry, err := index(deb, *admin)
		if err != nil {
			return fmt.Errorf("%s: %w", deb, err)
		}
		status.WriteString(entry)
		status.WriteString("\n")
	}
	return os.WriteFile(filepath.Join(*admin, "status"), status.Bytes(), 0o644)
}

// pkg is what one .deb contributes to the database.
type pkg struct {
	control []byte            // the control file
	extra   map[string][]byte // shlibs, symbols, ...
	files   []string          // data.tar paths, as dpkg lists them
}

// index writes the info files of one package and returns its status entry.
func index(deb, admin string) (string, error) {
	f, err := os.Open(deb)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var p pkg
	if err := readDeb(bufio.NewReaderSize(f, 1<<20), &p); err != nil {
		return "", err
	}
	if p.control == nil {
		return "", errors.New("no control file")
	}
	fields := parseControl(p.control)
	name, arch := fields["Package"], fields["Architecture"]
	if name == "" || arch == "" {
		return "", errors.New("control file lacks Package or Architecture")
	}
	// In dpkg's multiarch database layout (info/format 1) the info files of Multi-Arch: same
	// packages are named pkg:arch, those of the others pkg.
	base := name
	if fields["Multi-Arch"] == "same" {
		base = name + ":" + arch
	}
	list := strings.Join(p.files, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(admin, "info", base+".list"), []byte(list), 0o644); err != nil {
		return "", err
	}
	for n, b := range p.extra {
		if err := os.WriteFile(filepath.Join(admin, "info", base+"."+n), b, 0o644); err != nil {
			return "", err
		}
	}
	// The status entry is the control file with a Status line after Package.
	var out strings.Builder
	for line := range strings.Lines(strings.TrimRight(string(p.control), "\n") + "\n") {
		if strings.HasPrefix(line, "Status:") {
			continue
		}
		out.WriteString(line)
		if strings.HasPrefix(line, "Package:") {
			out.WriteString("Status: install ok installed\n")
		}
	}
	return out.String(), nil
}

// parseControl returns the single-line fields of a control file.
func parseControl(b []byte) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && !strings.HasPrefix(k, " ") && !strings.HasPrefix(k, "\t") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// readDeb walks the ar archive of a .deb.
func readDeb(r *bufio.Reader, p *pkg) error {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return errors.New("not an ar archive")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(r, hdr); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("ar header: %w", err)
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[:16])), "/")
		var size int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(hdr[48:58])), &size); err != nil || size < 0 {
			return fmt.Errorf("ar member %q: bad size", name)
		}
		member := io.LimitReader(r, size)
		var err error
		switch {
		case strings.HasPrefix(name, "control.tar"):
			err = readTar(name, member, func(h *tar.Header, tr *tar.Reader) error {
				n := path.Clean(strings.TrimPrefix(h.Name, "./"))
				if n != "control" && !contains(controlFiles, n) {
					return nil
				}
				b, err := io.ReadAll(io.LimitReader(tr, maxControl+1))
				if err != nil {
					return err
				}
				if len(b) > maxControl {
					return fmt.Errorf("%s: larger than %d bytes", n, maxControl)
				}
				if n == "control" {
					p.control = b
				} else {
					if p.extra == nil {
						p.extra = map[string][]byte{}
					}
					p.extra[n] = b
				}
				return nil
			})
		case strings.HasPrefix(name, "data.tar"):
			p.files = []string{"/."}
			err = readTar(name, member, func(h *tar.Header, _ *tar.Reader) error {
				n := path.Clean("/" + strings.TrimPrefix(h.Name, "./"))
				if n != "/" {
					p.files = append(p.files, n)
				}
				return nil
			})
			sort.Strings(p.files[1:])
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		// Skip what the member reader left, and the padding byte of an odd-sized member.
		if _, err := io.Copy(io.Discard, member); err != nil {
			return err
		}
		if size%2 == 1 {
			if _, err := r.Discard(1); err != nil && err != io.EOF {
				return err
			}
		}
	}
}

func readTar(name string, r io.Reader, each func(*tar.Header, *tar.Reader) error) error {
	var dr io.Reader
	switch path.Ext(name) {
	case ".tar":
		dr = r
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		dr = zr
	case ".xz":
		// xz(1) (xz-utils, always on Debian) decodes several times faster than the Go decoder,
		// which matters for a sysroot's hundreds of megabytes.
		if xzPath, err := exec.LookPath("xz"); err == nil {
			cmd := exec.Command(xzPath, "--decompress", "--stdout")
			cmd.Stdin = r
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			err = eachEntry(tar.NewReader(out), each)
			// Drain what tar did not read so that xz exits, then collect its status.
			_, _ = io.Copy(io.Discard, out)
			if werr := cmd.Wait(); err == nil && werr != nil {
				err = fmt.Errorf("xz: %w", werr)
			}
			return err
		}
		xr, err := xz.NewReader(r)
		if err != nil {
			return err
		}
		dr = xr
	case ".zst":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		dr = zr
	default:
		return fmt.Errorf("unsupported compression %q", path.Ext(name))
	}
	return eachEntry(tar.NewReader(dr), each)
}

func eachEntry(tr *tar.Reader, each func(*tar.Header, *tar.Reader) error) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := each(h, tr); err != nil {
			return err
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
