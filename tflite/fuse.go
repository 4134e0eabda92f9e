package tflite

// Converters often leave a float RELU as an operator of its own after a convolution or an ADD
// (BlazeFace has one after every residual ADD). Running it costs a pass over the tensor, written
// and read again; XNNPACK fuses it into the operator before. fuseActivations does the same at
// build: the producer takes the activation as its fused one and writes the RELU's output, and the
// RELU becomes a node with nothing to do. Clamping in the producer's store gives the same values
// as clamping afterwards.

// activationFuser is a kernel that can clamp its float output to a fused activation it does not
// have yet; fuseActivation reports whether it took act.
type activationFuser interface {
	fuseActivation(act int8) bool
}

// activationOf returns the fused-activation code of a RELU, RELU6 or RELU_N1_TO_1 operator.
func activationOf(op string) (int8, bool) {
	switch op {
	case "RELU":
		return actRelu, true
	case "RELU6":
		return actRelu6, true
	case "RELU_N1_TO_1":
		return actReluN1To1, true
	}
	return actNone, false
}

// fuseActivations folds each float activation operator into the operator that writes its input,
// when nothing else reads that input: not another operator, not the caller (a graph output).
func (ip *Interpreter) fuseActivations() {
	readers := make([]int, len(ip.tensors))
	producer := make([]int, len(ip.tensors))
	for i := range producer {
		producer[i] = -1
	}
	for _, n := range ip.nodes {
		for _, t := range n.inputs {
			if t != nil {
				readers[t.index]++
			}
		}
		for _, t := range n.outputs {
			producer[t.index] = n.index
		}
	}
	for _, t := range ip.outputs {
		readers[t.index]++
	}
	for ri, r := range ip.nodes {
		act, ok := activationOf(r.op)
		if !ok || len(r.inputs) != 1 || len(r.outputs) != 1 || r.inputs[0] == nil {
			continue
		}
		x, y := r.inputs[0], r.outputs[0]
		pi := producer[x.index]
		if pi < 0 || readers[x.index] != 1 || x.typ != Float32 || y.typ != Float32 || x.variable || y.variable {
			continue
		}
		p := ip.nodes[pi]
		f, ok := ip.kernels[pi].(activationFuser)
		if !ok || len(p.outputs) != 1 || !f.fuseActivation(act) {
			continue
		}
		p.outputs[0] = y
		r.inputs, r.outputs = nil, nil
		ip.kernels[ri] = fusedKernel{}
	}
}

// fusedKernel stands for an operator fused into the one before it.
type fusedKernel struct{}

func (fusedKernel) prepare(*node) error { return nil }
func (fusedKernel) eval(*node) error    { return nil }

func (p *convParams) fuseActivation(act int8) bool { return takeActivation(&p.act, act) }

func (k *fullyConnected) fuseActivation(act int8) bool { return takeActivation(&k.act, act) }

func (k *arithKernel) fuseActivation(act int8) bool { return takeActivation(&k.act, act) }

// takeActivation sets *cur to act unless the kernel already has a fused activation.
func takeActivation(cur *int8, act int8) bool {
	if *cur != actNone {
		return false
	}
	*cur = act
	return true
}
