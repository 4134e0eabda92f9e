package native

import (
	"os"
	"path/filepath"
	"runtime"
)

// LibraryName is the file name of the TensorFlow Lite C library on Linux.
const LibraryName = "libtensorflowlite_c.so"

// SystemDir is where the amd64 and arm64 Debian packages install the library.
const SystemDir = "/usr/lib/edge-agent"

// CacheVersion names the folder under the user's cache where `make` provisions the library:
// $XDG_CACHE_HOME/edge-agent/tflite-2.9.0/linux_<GOARCH>/ (~/.cache when XDG_CACHE_HOME is unset).
const CacheVersion = "tflite-2.9.0"

// DefaultPaths returns the places Open("") tries, in order: the Debian package's copy, the copy
// `make` provisions in the user's cache, and last the bare file name, which the system's dynamic
// loader resolves (LD_LIBRARY_PATH, ldconfig's directories) for a library the user installed.
func DefaultPaths() []string {
	paths := []string{filepath.Join(SystemDir, LibraryName)}
	if dir, err := os.UserCacheDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "edge-agent", CacheVersion, "linux_"+runtime.GOARCH, LibraryName))
	}
	return append(paths, LibraryName)
}
