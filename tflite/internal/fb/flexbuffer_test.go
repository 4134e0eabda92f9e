package fb

import (
	"encoding/hex"
	"errors"
	"testing"
)

// ssdOptionsHex is the custom options FlexBuffer of the TFLite_Detection_PostProcess operator in
// models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite, copied byte for byte.
const ssdOptionsHex = "795f7363616c65005f6f75747075745f7175616e74697a6564006d61785f646574656374696f6e73006e6d735f73636f72655f7468726573686f6c6400775f7363616c6500785f7363616c65006e6d735f696f755f7468726573686f6c6400685f7363616c65006d61785f636c61737365735f7065725f646574656374696f6e006e756d5f636c6173736573000a86302977456a135851970a000000010000000a000000010000000000a040010000000a0000009a99193f77cc2b325a0000000000a04000002041000020416a0e06060e0e060e0e0e322601"

func ssdOptions(t testing.TB) []byte {
	b, err := hex.DecodeString(ssdOptionsHex)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFlexBufferSSDOptions(t *testing.T) {
	root, err := FlexRoot(ssdOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	m, err := root.AsMap()
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 10 {
		t.Fatalf("map size %d, want 10", m.Len())
	}
	ints := map[string]int64{"max_detections": 10, "max_classes_per_detection": 1, "num_classes": 90}
	for k, want := range ints {
		v, err := m.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.AsInt64()
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", k, got, err, want)
		}
	}
	floats := map[string]float64{"y_scale": 10, "x_scale": 10, "h_scale": 5, "w_scale": 5, "nms_iou_threshold": 0.6000000238418579, "nms_score_threshold": 9.99999993922529e-09}
	for k, want := range floats {
		v, err := m.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.AsFloat64()
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", k, got, err, want)
		}
	}
	q, err := m.Get("_output_quantized")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := q.AsBool(); err != nil || !b {
		t.Errorf("_output_quantized = %v, %v; want true", b, err)
	}
	missing, err := m.Get("use_regular_nms")
	if err != nil || !missing.IsNull() {
		t.Errorf("absent key: %+v, %v; want null", missing, err)
	}
}

// TestFlexBufferScalars checks hand-made buffers: inline and indirect scalars of each width.
func TestFlexBufferScalars(t *testing.T) {
	tests := []struct {
		name  string
		buf   []byte
		int   int64
		float float64
	}{
		{"int8", []byte{0xfe, 1 << 2, 1}, -2, -2},
		{"int16", []byte{0x00, 0x80, 1<<2 | 1, 2}, -32768, -32768},
		{"uint8", []byte{200, 2 << 2, 1}, 200, 200},
		{"bool", []byte{1, 26 << 2, 1}, 1, 1},
		{"float32", []byte{0, 0, 0xc0, 0x3f, 3<<2 | 2, 4}, 1, 1.5},
		{"float64", []byte{0, 0, 0, 0, 0, 0, 0x04, 0xc0, 3<<2 | 3, 8}, -2, -2.5},
		// indirect float32: the data is 4 bytes, the root is a 1-byte offset back to it.
		{"indirect float", []byte{0, 0, 0x20, 0x41, 4, 8<<2 | 2, 1}, 10, 10},
		{"indirect int16", []byte{0x39, 0x30, 2, 6<<2 | 1, 1}, 12345, 12345},
		{"null", []byte{0, 0, 1}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := FlexRoot(tt.buf)
			if err != nil {
				t.Fatal(err)
			}
			i, err := v.AsInt64()
			if err != nil || i != tt.int {
				t.Errorf("asInt64 = %d, %v; want %d", i, err, tt.int)
			}
			f, err := v.AsFloat64()
			if err != nil || f != tt.float {
				t.Errorf("asFloat64 = %v, %v; want %v", f, err, tt.float)
			}
		})
	}
}

func TestFlexBufferMalformed(t *testing.T) {
	good := ssdOptions(t)
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"short", []byte{1, 1}},
		{"bad root width", []byte{0, 4, 3}},
		{"root too wide", []byte{0, 4, 8}},
		{"offset before start", []byte{9, 9<<2 | 0, 1}},
		{"truncated map", good[len(good)-40:]},
		{"not a map", []byte{5, 1 << 2, 1}},
		{"huge size", func() []byte {
			b := append([]byte(nil), good...)
			// The map's size slot is the byte before its first value.
			b[len(b)-3-10-10*4-1] = 0xff
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := FlexRoot(tt.buf)
			if err == nil {
				_, err = root.AsMap()
			}
			if !errors.Is(err, ErrFlexBuffer) {
				t.Fatalf("err = %v, want ErrFlexBuffer", err)
			}
		})
	}
}

func FuzzFlexBuffer(f *testing.F) {
	f.Add(ssdOptions(f))
	f.Add([]byte{0, 0, 0x20, 0x41, 4, 8<<2 | 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := FlexRoot(b)
		if err != nil {
			return
		}
		_, _ = root.AsInt64()
		_, _ = root.AsFloat64()
		m, err := root.AsMap()
		if err != nil {
			return
		}
		for i := 0; i < m.Len(); i++ {
			if _, err := m.Key(i); err != nil {
				continue
			}
			v := m.Value(i)
			_, _ = v.AsInt64()
			_, _ = v.AsFloat64()
			_, _ = v.AsBool()
		}
		_, _ = m.Get("max_detections")
	})
}
