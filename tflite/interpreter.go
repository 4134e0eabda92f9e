package tflite

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// DefaultMemoryLimit is the default cap on an interpreter's arena (activations and scratch).
const DefaultMemoryLimit = 1 << 30

// Option configures an Interpreter.
type Option func(*config)

type config struct {
	threads  int
	memLimit int
	noFusion bool // run every operator as the model has it (tests compare with fusion)
}

// WithThreads sets how many goroutines kernels may use to split their work (default 1). Values
// below 1 mean 1.
func WithThreads(n int) Option { return func(c *config) { c.threads = max(n, 1) } }

// WithMemoryLimit caps the bytes the interpreter's arena may take (default DefaultMemoryLimit).
// A model needing more fails with ErrMemoryLimit when the interpreter is built or resized.
func WithMemoryLimit(bytes int) Option { return func(c *config) { c.memLimit = bytes } }

// Interpreter runs the main subgraph of a Model. All checks, kernel setup and memory planning
// happen in NewInterpreter and ResizeInput, so Invoke allocates nothing and fails only on
// conditions that depend on input values.
//
// An Interpreter may be invoked any number of times but is not safe for concurrent use: one
// goroutine at a time may call its methods or touch its tensors' data. Build one interpreter per
// goroutine (they can share the Model) to run in parallel.
type Interpreter struct {
	model   *Model
	sg      *subgraph
	cfg     config
	tensors []*Tensor
	nodes   []*node
	kernels []kernel
	inputs  []*Tensor
	outputs []*Tensor
	pool    *pool
	// arena holds every activation tensor and node scratch buffer; planned by plan.
	arena     []byte
	arenaUsed int
	// life[i] is the live range of tensor i in operator indices; first = -1 for tensors that
	// need no arena memory (constants, variables, and tensors no operator or caller sees).
	life []allocation
	// idle[i] is set when every output of operator i is empty, or when the operator was folded
	// at prepare: it has nothing to compute, and kernels need not handle empty outputs in eval.
	idle []bool
	// foldBytes is the memory of the tensors folded at prepare; dynamic is set when some
	// operator is prepared by Invoke, whose tensors live in dynBufs and dynScratch (dynBytes).
	foldBytes  int
	dynamic    bool
	dynBufs    map[*Tensor][]byte
	dynScratch map[*node][]byte
	dynBytes   int
	closed     bool
}

// NewInterpreter binds every operator of m's main subgraph to its kernel, checks the graph,
// gives constants their memory (the model's own bytes where they are aligned for their type),
// prepares every kernel and plans the tensor memory.
// An op, type or option the runtime does not support is reported here (wrapping ErrUnsupported)
// with the operator's index, name and code.
func NewInterpreter(m *Model, opts ...Option) (*Interpreter, error) {
	cfg := config{threads: 1, memLimit: DefaultMemoryLimit}
	for _, o := range opts {
		o(&cfg)
	}
	ip := &Interpreter{model: m, sg: &m.subgraphs[0], cfg: cfg}
	if err := ip.build(); err != nil {
		return nil, err
	}
	ip.pool = newPool(cfg.threads)
	for _, n := range ip.nodes {
		n.pool = ip.pool
	}
	if err := ip.allocate(ErrInvalidModel); err != nil {
		ip.pool.close()
		return nil, err
	}
	return ip, nil
}

// build creates the tensors and nodes and checks the graph's structure.
func (ip *Interpreter) build() error {
	sg := ip.sg
	m := ip.model
	ip.tensors = make([]*Tensor, len(sg.tensors))
	// A constant is read in place, from the model's bytes, when they are aligned for its type
	// (kernels never write constants, and the converters align buffers): interpreters of one
	// model share them. Others are copied into aligned memory once per distinct piece of the
	// file, not per buffer index: buffer tables may share one data vector, and copying it per
	// tensor would multiply memory. Graph inputs and outputs are always copies, since callers
	// write them.
	type span struct {
		p *byte
		n int
	}
	consts := make(map[span][]byte)
	io := make(map[int]bool)
	for _, i := range append(slices.Clone(sg.inputs), sg.outputs...) {
		io[i] = true
	}
	for i := range sg.tensors {
		td := &sg.tensors[i]
		t := &Tensor{
			index: i, name: td.name, typ: td.typ,
			shape:          slices.Clone(td.shape),
			shapeSignature: slices.Clone(td.shapeSignature),
			quant:          td.quant.clone(),
			variable:       td.variable,
		}
		if data := m.tensorData(td); len(data) > 0 {
			key := span{&data[0], len(data)}
			c, ok := consts[key]
			switch {
			case io[i]:
				c = slices.Clip(append(alignedBytes(len(data))[:0], data...))
			case ok:
			case uintptr(unsafe.Pointer(&data[0]))%uintptr(max(1, td.typ.Size())) == 0:
				c = slices.Clip(data)
			default:
				c = alignedBytes(len(data))
				copy(c, data)
				consts[key] = c
			}
			t.data, t.constant = c, true
			if td.variable {
				// A variable's buffer is its initial value, and the variable is written.
				t.data = slices.Clip(append(alignedBytes(len(data))[:0], data...))
				t.constant = false
			}
		} else if td.variable {
			size, _ := byteSize(td.shape, td.typ.Size())
			t.data = alignedBytes(size)
		}
		ip.tensors[i] = t
	}
	ip.inputs = ip.pick(sg.inputs)
	ip.outputs = ip.pick(sg.outputs)

	// Check the operators run in an executable order: every input is a constant, a variable,
	// a graph input or the output of an earlier operator, and every tensor is written once.
	ready := make([]bool, len(sg.tensors))
	isInput := make([]bool, len(sg.tensors))
	for _, t := range ip.tensors {
		ready[t.index] = t.constant || t.variable
	}
	for _, i := range sg.inputs {
		if ip.tensors[i].constant {
			return fmt.Errorf("tflite: %w: graph input %d (%q) is a constant", ErrInvalidModel, i, sg.tensors[i].name)
		}
		ready[i], isInput[i] = true, true
	}
	ip.nodes = make([]*node, len(sg.ops))
	ip.kernels = make([]kernel, len(sg.ops))
	for oi := range sg.ops {
		op := &sg.ops[oi]
		code := m.opcodes[op.opcode]
		name := code.name()
		for _, ti := range op.inputs {
			if ti >= 0 && !ready[ti] {
				return fmt.Errorf("tflite: %w: operator %d (%s) reads tensor %d (%q) before any operator writes it",
					ErrInvalidModel, oi, name, ti, sg.tensors[ti].name)
			}
		}
		for _, ti := range op.outputs {
			t := ip.tensors[ti]
			switch {
			case t.constant:
				return fmt.Errorf("tflite: %w: operator %d (%s) writes constant tensor %d (%q)",
					ErrInvalidModel, oi, name, ti, t.name)
			case isInput[ti]:
				return fmt.Errorf("tflite: %w: operator %d (%s) writes graph input %d (%q)",
					ErrInvalidModel, oi, name, ti, t.name)
			case ready[ti]:
				return fmt.Errorf("tflite: %w: operator %d (%s) writes tensor %d (%q), already written",
					ErrInvalidModel, oi, name, ti, t.name)
			}
			ready[ti] = true
		}
		n := &node{
			index:   oi,
			op:      name,
			inputs:  ip.pickOptional(op.inputs),
			outputs: ip.pick(op.outputs),
			opts:    op.opts,
			custom:  op.custom,
		}
		if err := ip.bind(n, code, op); err != nil {
			return err
		}
		ip.nodes[oi] = n
	}
	for _, ti := range sg.outputs {
		if !ready[ti] {
			return fmt.Errorf("tflite: %w: graph output %d (%q) is written by no operator", ErrInvalidModel, ti, sg.tensors[ti].name)
		}
	}
	if !ip.cfg.noFusion {
		ip.fuseActivations()
	}
	ip.lifetimes()
	for _, t := range ip.tensors {
		if ip.life[t.index].first >= 0 && t.typ.Size() == 0 {
			return fmt.Errorf("tflite: tensor %d (%q): %s tensors: %w", t.index, t.name, t.typ, ErrUnsupported)
		}
	}
	return nil
}

// bind finds the kernel for node n and lets its factory check the node.
func (ip *Interpreter) bind(n *node, code opCode, op *operatorDef) error {
	var f kernelFactory
	if code.builtin == opCustom {
		f = customKernels[code.custom]
		if f == nil {
			return fmt.Errorf("tflite: operator %d (custom op %q): %w op", n.index, code.custom, ErrUnsupported)
		}
	} else {
		b, ok := builtinKernels[code.builtin]
		if !ok {
			return fmt.Errorf("tflite: operator %d (%s, builtin code %d): %w op", n.index, n.op, code.builtin, ErrUnsupported)
		}
		f = b.kernel
		if want := b.opts; want != 0 && op.optsType != 0 && op.optsType != want {
			return fmt.Errorf("tflite: %w: operator %d (%s): builtin options of union type %d, want %d",
				ErrInvalidModel, n.index, n.op, op.optsType, want)
		}
	}
	k, err := f(n)
	if err != nil {
		return fmt.Errorf("tflite: %w (builtin code %d, version %d)", classify(err, ErrInvalidModel), code.builtin, code.version)
	}
	if k == nil {
		return fmt.Errorf("tflite: operator %d (%s): %w: no kernel", n.index, n.op, ErrUnsupported)
	}
	ip.kernels[n.index] = k
	return nil
}

func (ip *Interpreter) pick(idx []int) []*Tensor {
	out := make([]*Tensor, len(idx))
	for i, ti := range idx {
		out[i] = ip.tensors[ti]
	}
	return out
}

func (ip *Interpreter) pickOptional(idx []int) []*Tensor {
	out := make([]*Tensor, len(idx))
	for i, ti := range idx {
		if ti >= 0 {
			out[i] = ip.tensors[ti]
		}
	}
	return out
}

// lifetimes computes the live range of every tensor that needs arena memory. Graph inputs and
// outputs live through the whole run: the caller writes the inputs before Invoke (and may invoke
// again without rewriting them) and reads the outputs after it.
func (ip *Interpreter) lifetimes() {
	last := max(len(ip.nodes)-1, 0)
	ip.life = make([]allocation, len(ip.tensors))
	for i := range ip.life {
		ip.life[i] = allocation{first: -1, last: -1}
	}
	arena := func(t *Tensor) bool { return !t.constant && !t.variable }
	for oi, n := range ip.nodes {
		for _, t := range n.outputs {
			if arena(t) && ip.life[t.index].first < 0 {
				ip.life[t.index] = allocation{first: oi, last: oi}
			}
		}
		for _, t := range n.inputs {
			if t != nil && arena(t) {
				ip.life[t.index].last = max(ip.life[t.index].last, oi)
			}
		}
	}
	for _, t := range ip.inputs {
		if arena(t) {
			ip.life[t.index] = allocation{first: 0, last: last}
		}
	}
	for _, t := range ip.outputs {
		if arena(t) {
			if ip.life[t.index].first < 0 {
				ip.life[t.index].first = 0
			}
			ip.life[t.index].last = last
		}
	}
}

// classify wraps a kernel's error with kind (ErrInvalidModel at load, ErrInvalidShape after a
// resize) unless it already says the runtime lacks a feature or memory.
func classify(err, kind error) error {
	if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrMemoryLimit) {
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// allocate prepares every kernel in order (which sets the output shapes and scratch sizes),
// folds the operators whose inputs are all known, marks those whose output shapes depend on
// run-time values, and plans the arena. Kernel errors are wrapped with kind.
func (ip *Interpreter) allocate(kind error) error {
	for _, t := range ip.tensors {
		if t.folded {
			t.constant, t.folded = false, false
		}
		t.dynamic = false
		if ip.life[t.index].first >= 0 {
			t.data = nil // kernels must not read activations in prepare
		}
	}
	ip.idle = make([]bool, len(ip.nodes))
	ip.foldBytes = 0
	ip.dynamic = false
	for i, n := range ip.nodes {
		n.scratch, n.scratchSize, n.dynamic = nil, 0, false
		if ip.hasDynamicInput(n) {
			ip.markDynamic(n)
			continue
		}
		if err := ip.kernels[i].prepare(n); err != nil {
			if errors.Is(err, errDynamic) {
				// The output shape depends on values only Invoke computes: prepare again then.
				ip.markDynamic(n)
				continue
			}
			return fmt.Errorf("tflite: prepare: %w", classify(err, kind))
		}
		if err := ip.checkPrepared(i, n); err != nil {
			return err
		}
		if ip.foldable(i, n) {
			if err := ip.fold(i, n); err != nil {
				return fmt.Errorf("tflite: prepare: %w", classify(err, kind))
			}
		}
	}
	return ip.plan()
}

// checkPrepared checks the output shapes and scratch size a kernel's prepare set and notes
// whether the operator has anything to compute.
func (ip *Interpreter) checkPrepared(i int, n *node) error {
	ip.idle[i] = len(n.outputs) > 0
	for _, t := range n.outputs {
		if t.NumElements() != 0 {
			ip.idle[i] = false
		}
	}
	for _, t := range n.outputs {
		if _, ok := byteSize(t.shape, t.typ.Size()); !ok || len(t.shape) > maxRank {
			return fmt.Errorf("tflite: %w: operator %d (%s) gives tensor %q shape %v: invalid or over 2 GiB",
				ErrMemoryLimit, i, n.op, t.name, t.shape)
		}
	}
	if n.scratchSize < 0 || n.scratchSize > maxTensorBytes {
		return fmt.Errorf("tflite: %w: operator %d (%s) asks for %d bytes of scratch",
			ErrMemoryLimit, i, n.op, n.scratchSize)
	}
	return nil
}

// maxFoldBytes bounds the outputs of one folded operator. Folding exists for the small tensors
// of shape arithmetic; a larger constant expression is left to Invoke, which costs time but no
// memory beyond the arena.
const maxFoldBytes = 1 << 20

// foldable reports whether operator i can run once at prepare: every input is a constant (or
// folded), or the kernel reads only its inputs' shapes (SHAPE), and its outputs are small and
// not variables.
func (ip *Interpreter) foldable(i int, n *node) bool {
	if ip.idle[i] && len(n.outputs) > 0 {
		return false
	}
	_, shapeOnly := ip.kernels[i].(shapeKernel)
	for _, t := range n.inputs {
		if t != nil && !t.constant && !shapeOnly {
			return false
		}
	}
	size := n.scratchSize
	for _, t := range n.outputs {
		if t.variable || t.constant {
			return false
		}
		size += t.ByteSize()
	}
	return size <= maxFoldBytes
}

// fold runs operator i at prepare into memory of its own and marks its outputs constant, so that
// the kernels after it can read their values at prepare (a RESHAPE of a computed shape, say).
func (ip *Interpreter) fold(i int, n *node) error {
	for _, t := range n.outputs {
		t.data = alignedBytes(t.ByteSize())
		ip.foldBytes += len(t.data)
	}
	n.scratch = alignedBytes(n.scratchSize)
	if err := ip.kernels[i].eval(n); err != nil {
		return err
	}
	n.scratch, n.scratchSize = nil, 0
	for _, t := range n.outputs {
		t.constant, t.folded = true, true
	}
	ip.idle[i] = true // computed: Invoke skips it
	return nil
}

func (ip *Interpreter) hasDynamicInput(n *node) bool {
	for _, t := range n.inputs {
		if t != nil && t.dynamic {
			return true
		}
	}
	return false
}

// markDynamic defers operator n to Invoke: its outputs' shapes are unknown until then.
func (ip *Interpreter) markDynamic(n *node) {
	n.dynamic = true
	ip.dynamic = true
	for _, t := range n.outputs {
		t.dynamic = true
		t.shape = nil
	}
}

// plan lays out the arena and points every activation tensor and scratch buffer into it.
func (ip *Interpreter) plan() error {
	var allocs []allocation
	var owners []int // tensor index, or -1-node index for scratch
	var sum int64
	for _, t := range ip.tensors {
		a := ip.life[t.index]
		if a.first < 0 || t.folded || t.dynamic {
			continue
		}
		a.size, _ = byteSize(t.shape, t.typ.Size())
		allocs = append(allocs, a)
		owners = append(owners, t.index)
		sum += int64(alignUp(a.size))
	}
	for i, n := range ip.nodes {
		if n.scratchSize > 0 {
			allocs = append(allocs, allocation{size: n.scratchSize, first: i, last: i})
			owners = append(owners, -1-i)
			sum += int64(alignUp(n.scratchSize))
		}
	}
	// The arena is never larger than the sum of its buffers; when that sum does not fit an int
	// (32-bit platforms) the planner's offsets could overflow, so stop here.
	if sum > math.MaxInt-arenaAlign {
		return fmt.Errorf("tflite: %w: the tensors need %d bytes", ErrMemoryLimit, sum)
	}
	total := planArena(allocs)
	if total+ip.foldBytes > ip.cfg.memLimit {
		return fmt.Errorf("tflite: %w: the model needs a %d-byte arena and %d bytes of folded constants, the limit is %d",
			ErrMemoryLimit, total, ip.foldBytes, ip.cfg.memLimit)
	}
	if total > len(ip.arena) {
		ip.arena = alignedBytes(total)
	} else {
		clear(ip.arena)
	}
	ip.arenaUsed = total
	for k, a := range allocs {
		b := ip.arena[a.offset : a.offset+a.size : a.offset+a.size]
		if o := owners[k]; o >= 0 {
			ip.tensors[o].data = b
		} else {
			ip.nodes[-1-o].scratch = b
		}
	}
	return nil
}

// Invoke runs the model once on the current input data. It allocates nothing, unless the model
// has operators whose output shapes depend on run-time values (see prepareAtRun).
func (ip *Interpreter) Invoke() error {
	if ip.closed {
		return ErrClosed
	}
	for i, k := range ip.kernels {
		n := ip.nodes[i]
		if n.dynamic {
			if err := ip.prepareAtRun(i, n); err != nil {
				return fmt.Errorf("tflite: invoke: %w", err)
			}
		}
		if ip.idle[i] {
			continue
		}
		if err := k.eval(n); err != nil {
			return fmt.Errorf("tflite: invoke: %w", err)
		}
	}
	return nil
}

// prepareAtRun prepares a dynamic operator now that its inputs hold this run's values, and gives
// its outputs and scratch memory of their own that grows to the largest size seen (TFLite's
// dynamic tensors): steady-state runs whose shapes do not grow allocate only what prepare does.
func (ip *Interpreter) prepareAtRun(i int, n *node) error {
	n.scratchSize = 0
	n.atRun = true
	err := ip.kernels[i].prepare(n)
	n.atRun = false
	if err != nil {
		return err
	}
	if err := ip.checkPrepared(i, n); err != nil {
		return err
	}
	if ip.dynBufs == nil {
		ip.dynBufs = make(map[*Tensor][]byte)
		ip.dynScratch = make(map[*node][]byte)
	}
	grow := func(buf []byte, size int) ([]byte, error) {
		if size <= cap(buf) {
			return buf[:size], nil
		}
		if ip.dynBytes+size-cap(buf)+ip.arenaUsed+ip.foldBytes > ip.cfg.memLimit {
			return nil, fmt.Errorf("%w: operator %d (%s) needs %d more bytes of run-time tensors, the limit is %d",
				ErrMemoryLimit, i, n.op, size, ip.cfg.memLimit)
		}
		ip.dynBytes += size - cap(buf)
		return alignedBytes(size), nil
	}
	for _, t := range n.outputs {
		b, err := grow(ip.dynBufs[t], t.ByteSize())
		if err != nil {
			return err
		}
		ip.dynBufs[t], t.data = b, b
	}
	b, err := grow(ip.dynScratch[n], n.scratchSize)
	if err != nil {
		return err
	}
	ip.dynScratch[n], n.scratch = b, b
	return nil
}

// ResizeInput changes the shape of input i. Only the dimensions declared -1 in the input's
// shape signature may change. Every kernel is prepared again and the memory is planned again, so
// tensor data slices obtained before are invalid afterwards. On error the interpreter keeps its
// previous shapes.
func (ip *Interpreter) ResizeInput(i int, shape []int) error {
	if ip.closed {
		return ErrClosed
	}
	if i < 0 || i >= len(ip.inputs) {
		return fmt.Errorf("tflite: resize input %d: %w: the model has %d inputs", i, ErrInvalidShape, len(ip.inputs))
	}
	t := ip.inputs[i]
	sig := t.ShapeSignature()
	if len(shape) != len(sig) {
		return fmt.Errorf("tflite: resize input %q to %v: %w: rank must be %d", t.name, shape, ErrInvalidShape, len(sig))
	}
	for d, v := range shape {
		if sig[d] == -1 && v < 1 || sig[d] != -1 && v != sig[d] {
			return fmt.Errorf("tflite: resize input %q to %v: %w: the declared shape is %v (-1 = dynamic)",
				t.name, shape, ErrInvalidShape, sig)
		}
	}
	if _, ok := byteSize(shape, t.typ.Size()); !ok {
		return fmt.Errorf("tflite: resize input %q to %v: %w: too large", t.name, shape, ErrInvalidShape)
	}
	if slices.Equal(shape, t.shape) {
		return nil
	}
	old := t.shape
	t.shape = slices.Clone(shape)
	if err := ip.allocate(ErrInvalidShape); err != nil {
		t.shape = old
		if err2 := ip.allocate(ErrInvalidModel); err2 != nil {
			return errors.Join(err, fmt.Errorf("tflite: restoring the previous shape: %w", err2))
		}
		return err
	}
	return nil
}

// InputCount returns the number of model inputs.
func (ip *Interpreter) InputCount() int { return len(ip.inputs) }

// OutputCount returns the number of model outputs.
func (ip *Interpreter) OutputCount() int { return len(ip.outputs) }

// Input returns input tensor i, or nil if i is out of range. The caller writes the input data
// into it before Invoke.
func (ip *Interpreter) Input(i int) *Tensor {
	if i < 0 || i >= len(ip.inputs) {
		return nil
	}
	return ip.inputs[i]
}

// Output returns output tensor i, or nil if i is out of range. Its data is valid after Invoke
// until the next Invoke or ResizeInput.
func (ip *Interpreter) Output(i int) *Tensor {
	if i < 0 || i >= len(ip.outputs) {
		return nil
	}
	return ip.outputs[i]
}

// InputByName returns the input whose tensor name, or whose alias in a signature of the main
// subgraph, is name; nil if there is none.
func (ip *Interpreter) InputByName(name string) *Tensor {
	return ip.byName(ip.inputs, name, func(s Signature) map[string]int { return s.Inputs })
}

// OutputByName returns the output whose tensor name, or whose alias in a signature of the main
// subgraph, is name; nil if there is none.
func (ip *Interpreter) OutputByName(name string) *Tensor {
	return ip.byName(ip.outputs, name, func(s Signature) map[string]int { return s.Outputs })
}

func (ip *Interpreter) byName(ts []*Tensor, name string, side func(Signature) map[string]int) *Tensor {
	for _, t := range ts {
		if t.name == name {
			return t
		}
	}
	for _, s := range ip.model.signatures {
		if s.Subgraph != 0 {
			continue
		}
		if ti, ok := side(s)[name]; ok {
			for _, t := range ts {
				if t.index == ti {
					return t
				}
			}
		}
	}
	return nil
}

// Model returns the model the interpreter runs.
func (ip *Interpreter) Model() *Model { return ip.model }

// ArenaSize returns the bytes of the planned arena that hold activations and scratch.
func (ip *Interpreter) ArenaSize() int { return ip.arenaUsed }

// Close stops the worker goroutines and releases the arena. It is safe to call more than once;
// the interpreter cannot be used afterwards.
func (ip *Interpreter) Close() error {
	if ip.closed {
		return nil
	}
	ip.closed = true
	ip.pool.close()
	ip.arena = nil
	ip.dynBufs, ip.dynScratch = nil, nil
	for _, t := range ip.tensors {
		if ip.life[t.index].first >= 0 {
			t.data = nil
		}
	}
	return nil
}
