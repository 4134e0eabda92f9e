package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/native"
)

// runtimeOpts are the --runtime and --library flags of infer and model inspect.
type runtimeOpts struct {
	runtime, library *string
}

func runtimeFlags(fs *flag.FlagSet, def string) runtimeOpts {
	return runtimeOpts{
		runtime: fs.String("runtime", def, "TFLite runtime: auto (the faster of the two, measured for about 2 s), "+
			"go (pure Go) or tflite (the official TensorFlow Lite C library)"),
		library: fs.String("library", "", "libtensorflowlite_c `file` for tflite and auto (default: the first of "+
			strings.Join(native.DefaultPaths(), ", ")+")"),
	}
}

func (r runtimeOpts) check() error {
	if _, err := backend.ParseRuntime(*r.runtime); err != nil {
		return fmt.Errorf("%w: --runtime: %w", errUsage, err)
	}
	return nil
}

func (r runtimeOpts) config(threads int) backend.Config {
	return backend.Config{Runtime: *r.runtime, Library: *r.library, Threads: threads}
}
