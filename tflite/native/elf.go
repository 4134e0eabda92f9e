package native

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// machines maps GOARCH to the ELF machine and class a library for it has.
var machines = map[string]struct {
	machine elf.Machine
	class   elf.Class
}{
	"amd64": {elf.EM_X86_64, elf.ELFCLASS64},
	"arm64": {elf.EM_AARCH64, elf.ELFCLASS64},
	"arm":   {elf.EM_ARM, elf.ELFCLASS32},
	"386":   {elf.EM_386, elf.ELFCLASS32},
}

// checkELF reports whether path is a shared object for this machine whose loadable segments lie
// within the file, and exports TfLiteVersion.
func checkELF(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("native: %w: %w: %w", ErrUnavailable, ErrNotFound, err)
	case err != nil:
		return fmt.Errorf("native: %w: %w", ErrUnavailable, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("native: %w: %w: %s is not a file", ErrUnavailable, ErrIncompatible, path)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("native: %w: %w: %s: %s", ErrUnavailable, ErrIncompatible, path, fmt.Sprintf(format, args...))
	}
	f, err := elf.Open(path)
	if err != nil {
		return bad("not a shared library: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return bad("ELF type %s, not a shared library", f.Type)
	}
	if want, ok := machines[runtime.GOARCH]; ok && (f.Machine != want.machine || f.Class != want.class) {
		return bad("built for %s (%s), this machine is %s (%s)", f.Machine, f.Class, want.machine, want.class)
	}
	size := uint64(st.Size())
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && (p.Off > size || p.Filesz > size-p.Off) {
			return bad("truncated: a segment ends at byte %d of %d", p.Off+p.Filesz, size)
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return bad("unreadable symbol table: %v", err)
	}
	for _, s := range syms {
		if s.Name == "TfLiteVersion" && s.Section != elf.SHN_UNDEF {
			return nil
		}
	}
	return bad("has no TfLiteVersion: not the TensorFlow Lite C library")
}
