//go:build cgo

package native

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The C API's functions, resolved with dlsym. Its opaque types are void pointers here, and its
// status and type enums are int-sized.
typedef struct {
	const char* (*version)(void);
	void* (*model_create)(const void*, size_t);
	void (*model_delete)(void*);
	void* (*options_create)(void);
	void (*options_delete)(void*);
	void (*options_set_num_threads)(void*, int32_t);
	void (*options_add_delegate)(void*, void*);
	void (*options_set_error_reporter)(void*, void (*)(void*, const char*, va_list), void*);
	void* (*interpreter_create)(const void*, const void*);
	void (*interpreter_delete)(void*);
	int (*allocate_tensors)(void*);
	int (*invoke)(void*);
	int32_t (*input_count)(const void*);
	int32_t (*output_count)(const void*);
	void* (*input_tensor)(const void*, int32_t);
	const void* (*output_tensor)(const void*, int32_t);
	int (*tensor_type)(const void*);
	int32_t (*tensor_num_dims)(const void*);
	int32_t (*tensor_dim)(const void*, int32_t);
	size_t (*tensor_byte_size)(const void*);
	void* (*tensor_data)(const void*);
	const char* (*tensor_name)(const void*);
	// Optional: a library built without the XNNPACK delegate lacks them.
	void* (*xnnpack_create)(const void*);
	void (*xnnpack_delete)(void*);
} ea_api;

enum { ea_ok, ea_dlopen_failed, ea_symbol_missing };

// ea_open loads the library and resolves the API. On failure *detail is dlerror's message or the
// missing symbol's name.
static int ea_open(const char* path, ea_api* a, const char** detail) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*detail = dlerror();
		return ea_dlopen_failed;
	}
	struct { void** slot; const char* name; int required; } syms[] = {
		{(void**)&a->version, "TfLiteVersion", 1},
		{(void**)&a->model_create, "TfLiteModelCreate", 1},
		{(void**)&a->model_delete, "TfLiteModelDelete", 1},
		{(void**)&a->options_create, "TfLiteInterpreterOptionsCreate", 1},
		{(void**)&a->options_delete, "TfLiteInterpreterOptionsDelete", 1},
		{(void**)&a->options_set_num_threads, "TfLiteInterpreterOptionsSetNumThreads", 1},
		{(void**)&a->options_add_delegate, "TfLiteInterpreterOptionsAddDelegate", 1},
		{(void**)&a->options_set_error_reporter, "TfLiteInterpreterOptionsSetErrorReporter", 1},
		{(void**)&a->interpreter_create, "TfLiteInterpreterCreate", 1},
		{(void**)&a->interpreter_delete, "TfLiteInterpreterDelete", 1},
		{(void**)&a->allocate_tensors, "TfLiteInterpreterAllocateTensors", 1},
		{(void**)&a->invoke, "TfLiteInterpreterInvoke", 1},
		{(void**)&a->input_count, "TfLiteInterpreterGetInputTensorCount", 1},
		{(void**)&a->output_count, "TfLiteInterpreterGetOutputTensorCount", 1},
		{(void**)&a->input_tensor, "TfLiteInterpreterGetInputTensor", 1},
		{(void**)&a->output_tensor, "TfLiteInterpreterGetOutputTensor", 1},
		{(void**)&a->tensor_type, "TfLiteTensorType", 1},
		{(void**)&a->tensor_num_dims, "TfLiteTensorNumDims", 1},
		{(void**)&a->tensor_dim, "TfLiteTensorDim", 1},
		{(void**)&a->tensor_byte_size, "TfLiteTensorByteSize", 1},
		{(void**)&a->tensor_data, "TfLiteTensorData", 1},
		{(void**)&a->tensor_name, "TfLiteTensorName", 1},
		{(void**)&a->xnnpack_create, "TfLiteXNNPackDelegateCreate", 0},
		{(void**)&a->xnnpack_delete, "TfLiteXNNPackDelegateDelete", 0},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot && syms[i].required) {
			*detail = syms[i].name;
			dlclose(h);
			return ea_symbol_missing;
		}
	}
	if (!a->xnnpack_create || !a->xnnpack_delete) {
		a->xnnpack_create = NULL;
		a->xnnpack_delete = NULL;
	}
	return ea_ok;
}

static const char* ea_version(const ea_api* a) { return a->version(); }
static int ea_has_xnnpack(const ea_api* a) { return a->xnnpack_create != NULL; }

// ea_log collects the messages the library reports for one interpreter.
typedef struct {
	char text[4096];
	size_t len;
} ea_log;

static void ea_report(void* user, const char* format, va_list args) {
	ea_log* l = user;
	size_t room = sizeof l->text - l->len;
	if (room < 2) return;
	if (l->len > 0) {
		l->text[l->len++] = '\n';
		room--;
	}
	int n = vsnprintf(l->text + l->len, room, format, args);
	if (n < 0) n = 0;
	l->len += (size_t)n < room ? (size_t)n : room - 1;
}

typedef struct {
	void* data;  // the model's bytes, which must outlive the model
	void* model;
	void* delegate;
	void* interp;
	ea_log log;
} ea_interp;

enum { ea_built, ea_no_memory, ea_model_failed, ea_delegate_failed, ea_interp_failed, ea_alloc_failed };

// ea_xnnpack creates the XNNPACK delegate. Its options structure is passed zeroed, with the thread
// count in its first field, and the flags in the second only where the caller knows the layout:
// releases after 2.9 added fields and moved the flags. The buffer is larger than any release's
// structure, so fields unknown here read as zero.
static void* ea_xnnpack(const ea_api* a, int32_t threads, int set_flags, uint32_t flags) {
	union { unsigned char b[512]; int64_t align; } o;
	memset(&o, 0, sizeof o);
	memcpy(o.b, &threads, sizeof threads);
	if (set_flags) memcpy(o.b + sizeof threads, &flags, sizeof flags);
	return a->xnnpack_create(o.b);
}

static void ea_free(const ea_api* a, ea_interp* p) {
	if (p->interp) a->interpreter_delete(p->interp);
	if (p->delegate) a->xnnpack_delete(p->delegate);
	if (p->model) a->model_delete(p->model);
	free(p->data);
	p->interp = p->delegate = p->model = p->data = NULL;
}

// ea_new builds an interpreter for the n model bytes at bytes (copied) and allocates its tensors.
// xnnpack: 0 none, 1 the XNNPACK delegate with flags (if set_flags). It returns ea_built or the
// stage that failed, with p->log holding what the library reported; p is freed on failure.
static int ea_new(const ea_api* a, ea_interp* p, const void* bytes, size_t n, int32_t threads,
		int xnnpack, int set_flags, uint32_t flags) {
	int rc = ea_built;
	void* opts = NULL;
	p->data = malloc(n ? n : 1);
	if (!p->data) return ea_no_memory;
	memcpy(p->data, bytes, n);
	p->model = a->model_create(p->data, n);
	if (!p->model) { rc = ea_model_failed; goto fail; }
	opts = a->options_create();
	if (!opts) { rc = ea_no_memory; goto fail; }
	a->options_set_num_threads(opts, threads);
	a->options_set_error_reporter(opts, ea_report, &p->log);
	if (xnnpack) {
		p->delegate = ea_xnnpack(a, threads, set_flags, flags);
		if (!p->delegate) { rc = ea_delegate_failed; goto fail; }
		a->options_add_delegate(opts, p->delegate);
	}
	p->interp = a->interpreter_create(p->model, opts);
	a->options_delete(opts);
	opts = NULL;
	if (!p->interp) { rc = ea_interp_failed; goto fail; }
	if (a->allocate_tensors(p->interp) != 0) { rc = ea_alloc_failed; goto fail; }
	return ea_built;
fail:
	if (opts) a->options_delete(opts);
	ea_free(a, p);
	return rc;
}

static int32_t ea_count(const ea_api* a, const ea_interp* p, int output) {
	return output ? a->output_count(p->interp) : a->input_count(p->interp);
}

static const void* ea_tensor(const ea_api* a, const ea_interp* p, int output, int32_t i) {
	return output ? a->output_tensor(p->interp, i) : a->input_tensor(p->interp, i);
}

#define EA_MAX_DIMS 16

typedef struct {
	int type;
	int32_t ndims;
	int32_t dims[EA_MAX_DIMS];
	size_t bytes;
	void* data;
	const char* name;
} ea_tensor_info;

static int ea_describe(const ea_api* a, const void* t, ea_tensor_info* out) {
	if (!t) return 0;
	out->type = a->tensor_type(t);
	out->ndims = a->tensor_num_dims(t);
	if (out->ndims < 0 || out->ndims > EA_MAX_DIMS) return 0;
	for (int32_t i = 0; i < out->ndims; i++) out->dims[i] = a->tensor_dim(t, i);
	out->bytes = a->tensor_byte_size(t);
	out->data = a->tensor_data(t);
	out->name = a->tensor_name(t);
	return 1;
}

static int ea_invoke(const ea_api* a, ea_interp* p) {
	p->log.len = 0;
	return a->invoke(p->interp);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/edge-agent/edge-agent/tflite"
)

// Library is a loaded TensorFlow Lite C library. It is safe for concurrent use and never
// unloaded.
type Library struct {
	path    string
	version string
	api     C.ea_api // C function pointers only, so C may read it while Go owns it
}

// Open loads the TensorFlow Lite C library at path, or with path "" the first of DefaultPaths
// that exists. A path without a slash is resolved by the system's dynamic loader. The errors wrap
// ErrUnavailable and ErrNotFound or ErrIncompatible.
func Open(path string) (*Library, error) {
	if path != "" {
		return open(path)
	}
	paths := DefaultPaths()
	for _, p := range paths {
		lib, err := open(p)
		// A broken library in one of the default places is reported rather than skipped: it is
		// an installation to repair, not an absence.
		if !errors.Is(err, ErrNotFound) {
			return lib, err
		}
	}
	return nil, fmt.Errorf("native: %w: %w in %s", ErrUnavailable, ErrNotFound, strings.Join(paths, ", "))
}

func open(path string) (*Library, error) {
	if strings.Contains(path, "/") {
		// The dynamic loader maps the file as its headers say, so a truncated library would
		// crash the process (SIGBUS) rather than fail: check the file first. A bare name is left
		// to the system's loader, which searches its own trusted directories.
		if err := checkELF(path); err != nil {
			return nil, err
		}
	}
	lib := &Library{path: path}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var detail *C.char
	switch C.ea_open(cpath, &lib.api, &detail) {
	case C.ea_dlopen_failed:
		msg := C.GoString(detail)
		kind := ErrIncompatible
		if !strings.Contains(path, "/") && strings.Contains(msg, "No such file") {
			kind = ErrNotFound
		}
		return nil, fmt.Errorf("native: %w: %w: %s", ErrUnavailable, kind, msg)
	case C.ea_symbol_missing:
		return nil, fmt.Errorf("native: %w: %w: %s has no %s: not the TensorFlow Lite C library",
			ErrUnavailable, ErrIncompatible, path, C.GoString(detail))
	}
	lib.version = C.GoString(C.ea_version(&lib.api))
	if !strings.HasPrefix(lib.version, "2.") {
		return nil, fmt.Errorf("native: %w: %w: %s is TensorFlow Lite %q; the C API of 2.x is needed",
			ErrUnavailable, ErrIncompatible, path, lib.version)
	}
	return lib, nil
}

// Path returns the path the library was opened from.
func (l *Library) Path() string { return l.path }

// Version returns the library's TensorFlow Lite version, such as "2.9.0".
func (l *Library) Version() string { return l.version }

// HasXNNPACK reports whether the library exports the XNNPACK delegate.
func (l *Library) HasXNNPACK() bool { return C.ea_has_xnnpack(&l.api) != 0 }

// knowsFlags reports whether the XNNPACK options' flags field is where ea_xnnpack writes it.
func (l *Library) knowsFlags() bool { return strings.HasPrefix(l.version, "2.9.") }

// The delegate's QS8 flag (TFLITE_XNNPACK_DELEGATE_FLAG_QS8 in 2.9).
const flagQS8 = 1

// Interpreter runs a model on the official runtime. It implements tflite.Runner.
type Interpreter struct {
	lib     *Library
	c       *C.ea_interp // C memory: the library's error reporter writes into its log
	inputs  []tensor
	outputs []tensor
	xnnpack XNNPACK
	note    string
	closed  bool
}

// tensor is one input or output: the view handed out, and the C tensor with the data pointer
// and shape the view was last set to.
type tensor struct {
	view  *tflite.TensorView
	c     unsafe.Pointer
	data  unsafe.Pointer
	bytes int
	shape []int
}

var _ tflite.Runner = (*Interpreter)(nil)

// NewInterpreter builds an interpreter for m, which this project's loader has validated, and
// allocates its tensors. A model the pure-Go runtime finds invalid when it prepares it is refused
// with tflite.ErrInvalidModel, one whose tensors need more than o.MemoryLimit with
// tflite.ErrMemoryLimit (the package documentation says how far these checks reach). If the
// XNNPACK delegate cannot be applied it falls back (QS8 to float, float to none) and XNNPACK
// says so. A model the library refuses is an error wrapping tflite.ErrUnsupported with the
// library's messages.
func (l *Library) NewInterpreter(m *tflite.Model, o Options) (*Interpreter, error) {
	o.Threads = max(o.Threads, 1)
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = tflite.DefaultMemoryLimit
	}
	if err := check(m, o.MemoryLimit); err != nil {
		return nil, err
	}
	if err := l.vet(m, o); err != nil {
		return nil, err
	}
	return l.build(m, o)
}

// build makes the interpreter, unchecked: NewInterpreter checks and vets the model first.
func (l *Library) build(m *tflite.Model, o Options) (*Interpreter, error) {
	threads, limit := max(o.Threads, 1), o.MemoryLimit
	if limit <= 0 {
		limit = tflite.DefaultMemoryLimit
	}
	var modes []XNNPACK
	switch x := o.XNNPACK; {
	case !l.HasXNNPACK() || x == XNNPACKOff:
		modes = []XNNPACK{XNNPACKOff}
	case x == XNNPACKFloat || !l.knowsFlags():
		modes = []XNNPACK{XNNPACKFloat, XNNPACKOff}
	default:
		modes = []XNNPACK{XNNPACKQS8, XNNPACKFloat, XNNPACKOff}
	}
	var notes []string
	if o.XNNPACK != XNNPACKOff && !l.HasXNNPACK() {
		notes = append(notes, "the library has no XNNPACK delegate")
	}
	raw := m.Bytes()
	for _, mode := range modes {
		p := (*C.ea_interp)(C.calloc(1, C.sizeof_ea_interp))
		if p == nil {
			return nil, errors.New("native: out of memory")
		}
		var flags C.uint32_t
		if mode == XNNPACKQS8 {
			flags = flagQS8
		}
		xnn := C.int(0)
		if mode != XNNPACKOff {
			xnn = 1
		}
		rc := C.ea_new(&l.api, p, unsafe.Pointer(unsafe.SliceData(raw)), C.size_t(len(raw)), C.int32_t(threads),
			xnn, boolInt(l.knowsFlags()), flags)
		if rc == C.ea_built {
			ip := &Interpreter{lib: l, c: p, xnnpack: mode, note: strings.Join(notes, "; ")}
			if err := ip.bind(m); err != nil {
				ip.Close()
				return nil, err
			}
			// For ops the check above could not prepare, the inputs and outputs are the tensors
			// whose sizes the C API tells.
			if n := ip.ioBytes(); n > limit {
				ip.Close()
				return nil, fmt.Errorf("native: %w: the inputs and outputs take %d bytes, the limit is %d", tflite.ErrMemoryLimit, n, limit)
			}
			return ip, nil
		}
		msg := summary(logText(&p.log))
		C.free(unsafe.Pointer(p))
		switch {
		case rc == C.ea_no_memory:
			return nil, errors.New("native: out of memory")
		case rc == C.ea_model_failed:
			return nil, fmt.Errorf("native: %w: TensorFlow Lite %s cannot read the model", tflite.ErrUnsupported, l.version)
		case mode == XNNPACKOff:
			return nil, fmt.Errorf("native: %w: TensorFlow Lite %s cannot run the model: %s", tflite.ErrUnsupported, l.version, msg)
		}
		notes = append(notes, fmt.Sprintf("XNNPACK %s failed: %s", mode, msg))
	}
	panic("unreachable: the last mode is always XNNPACKOff")
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func logText(l *C.ea_log) string {
	return C.GoStringN(&l.text[0], C.int(l.len))
}

// summary shortens the library's messages (one per tensor or node, often repeated) to the first
// few distinct lines.
func summary(log string) string {
	if log == "" {
		return "no message"
	}
	var lines []string
	more := 0
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || slices.Contains(lines, l) {
			continue
		}
		if len(lines) == 3 {
			more++
			continue
		}
		lines = append(lines, l)
	}
	s := strings.Join(lines, "; ")
	if more > 0 {
		s += fmt.Sprintf(" (and %d more messages)", more)
	}
	return s
}

// bind makes the views of the inputs and outputs and checks them against the model's declared
// inputs and outputs.
func (ip *Interpreter) bind(m *tflite.Model) error {
	for side, infos := range [][]tflite.TensorInfo{m.Inputs(), m.Outputs()} {
		what := [...]string{"input", "output"}[side]
		n := int(C.ea_count(&ip.lib.api, ip.c, C.int(side)))
		if n != len(infos) {
			return fmt.Errorf("native: %w: the library sees %d %ss, the model declares %d", ErrIncompatible, n, what, len(infos))
		}
		ts := make([]tensor, n)
		for i, info := range infos {
			ts[i] = tensor{view: tflite.NewTensorView(info), c: unsafe.Pointer(C.ea_tensor(&ip.lib.api, ip.c, C.int(side), C.int32_t(i)))}
			if err := ip.sync(&ts[i]); err != nil {
				return fmt.Errorf("native: %s %d: %w", what, i, err)
			}
		}
		if side == 0 {
			ip.inputs = ts
		} else {
			ip.outputs = ts
		}
	}
	return nil
}

// sync points t's view at the C tensor's current data and shape, if they moved.
func (ip *Interpreter) sync(t *tensor) error {
	var ci C.ea_tensor_info
	if C.ea_describe(&ip.lib.api, t.c, &ci) == 0 {
		return fmt.Errorf("%w: the library returned no tensor or a rank over %d", ErrIncompatible, C.EA_MAX_DIMS)
	}
	v := t.view.Tensor()
	if typ, ok := dataType(int(ci._type)); !ok || typ != v.Type() {
		// The library types some outputs itself (from the op's inputs), over what the file says.
		return fmt.Errorf("%w: tensor %q: the library makes it type %d, the model declares %s", tflite.ErrInvalidModel, v.Name(), int(ci._type), v.Type())
	}
	bytes := int(ci.bytes)
	if ci.data == t.data && bytes == t.bytes && shapeIs(t.shape, &ci) {
		return nil
	}
	shape := make([]int, int(ci.ndims))
	for i := range shape {
		shape[i] = int(ci.dims[i])
	}
	t.data, t.bytes, t.shape = ci.data, bytes, shape
	if ci.data == nil {
		// A dynamic output has no memory until the first Invoke.
		t.view.Detach()
		return nil
	}
	return t.view.Set(shape, unsafe.Slice((*byte)(ci.data), bytes))
}

func shapeIs(shape []int, ci *C.ea_tensor_info) bool {
	if len(shape) != int(ci.ndims) {
		return false
	}
	for i, d := range shape {
		if d != int(ci.dims[i]) {
			return false
		}
	}
	return true
}

// dataType maps the C API's TfLiteType to the schema's type.
func dataType(t int) (tflite.DataType, bool) {
	switch t {
	case 1:
		return tflite.Float32, true
	case 2:
		return tflite.Int32, true
	case 3:
		return tflite.UInt8, true
	case 4:
		return tflite.Int64, true
	case 5:
		return tflite.String, true
	case 6:
		return tflite.Bool, true
	case 7:
		return tflite.Int16, true
	case 9:
		return tflite.Int8, true
	case 10:
		return tflite.Float16, true
	case 11:
		return tflite.Float64, true
	}
	return 0, false
}

func (ip *Interpreter) ioBytes() int {
	n := 0
	for _, ts := range [][]tensor{ip.inputs, ip.outputs} {
		for _, t := range ts {
			n += t.bytes
		}
	}
	return n
}

// Runtime returns tflite.RuntimeTFLite.
func (ip *Interpreter) Runtime() string { return tflite.RuntimeTFLite }

// Library returns the library the interpreter runs on.
func (ip *Interpreter) Library() *Library { return ip.lib }

// XNNPACK returns the delegate mode in use (XNNPACKOff for none) and, when it is not the one
// asked for, why.
func (ip *Interpreter) XNNPACK() (XNNPACK, string) { return ip.xnnpack, ip.note }

// InputCount returns the number of model inputs.
func (ip *Interpreter) InputCount() int { return len(ip.inputs) }

// OutputCount returns the number of model outputs.
func (ip *Interpreter) OutputCount() int { return len(ip.outputs) }

// Input returns input tensor i, or nil if i is out of range.
func (ip *Interpreter) Input(i int) *tflite.Tensor {
	if i < 0 || i >= len(ip.inputs) {
		return nil
	}
	return ip.inputs[i].view.Tensor()
}

// Output returns output tensor i, or nil if i is out of range. Its data is valid after Invoke
// until the next Invoke or Close.
func (ip *Interpreter) Output(i int) *tflite.Tensor {
	if i < 0 || i >= len(ip.outputs) {
		return nil
	}
	return ip.outputs[i].view.Tensor()
}

// Invoke runs the model once on the current input data.
func (ip *Interpreter) Invoke() error {
	if ip.closed {
		return tflite.ErrClosed
	}
	if C.ea_invoke(&ip.lib.api, ip.c) != 0 {
		return fmt.Errorf("native: invoke: %s", summary(logText(&ip.c.log)))
	}
	// Outputs whose shape depends on the input are reallocated by the library during Invoke.
	for i := range ip.outputs {
		if err := ip.sync(&ip.outputs[i]); err != nil {
			return fmt.Errorf("native: output %d: %w", i, err)
		}
	}
	return nil
}

// Close frees the interpreter and detaches its tensors. It is safe to call more than once.
func (ip *Interpreter) Close() error {
	if ip.closed {
		return nil
	}
	ip.closed = true
	for _, ts := range [][]tensor{ip.inputs, ip.outputs} {
		for _, t := range ts {
			t.view.Detach()
		}
	}
	C.ea_free(&ip.lib.api, ip.c)
	C.free(unsafe.Pointer(ip.c))
	ip.c = nil
	return nil
}
