package tflite

import (
	"errors"
	"testing"
)

func TestNewWindow(t *testing.T) {
	cases := []struct {
		name                           string
		padding                        int8
		in, filter, stride, dilation   int
		wantOut, wantPad, wantPadAfter int
	}{
		{"same even total", paddingSame, 5, 3, 2, 1, 3, 1, 1},
		{"same odd total goes after", paddingSame, 4, 3, 2, 1, 2, 0, 1},
		{"same stride 1", paddingSame, 7, 3, 1, 1, 7, 1, 1},
		{"same dilated", paddingSame, 7, 3, 1, 2, 7, 2, 2},
		{"same filter larger than input", paddingSame, 2, 5, 1, 1, 2, 2, 2},
		{"same 1x1", paddingSame, 9, 1, 2, 1, 5, 0, 0},
		{"same odd total 1 stride 1 even filter", paddingSame, 6, 2, 1, 1, 6, 0, 1},
		{"valid", paddingValid, 5, 3, 2, 1, 2, 0, 0},
		{"valid remainder dropped", paddingValid, 6, 3, 2, 1, 2, 0, 0},
		{"valid dilated", paddingValid, 7, 3, 1, 3, 1, 0, 0},
		{"valid exact", paddingValid, 3, 3, 1, 1, 1, 0, 0},
	}
	for _, c := range cases {
		w, err := newWindow(c.padding, c.in, c.filter, c.stride, c.dilation)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if w.out != c.wantOut || w.pad != c.wantPad || w.padAfter != c.wantPadAfter {
			t.Errorf("%s: got out=%d pad=%d/%d, want out=%d pad=%d/%d", c.name,
				w.out, w.pad, w.padAfter, c.wantOut, c.wantPad, c.wantPadAfter)
		}
		// Every output position's window must start within the padded input and end inside it.
		eff := (c.filter-1)*c.dilation + 1
		if last := (w.out-1)*c.stride + eff; last > c.in+w.pad+w.padAfter {
			t.Errorf("%s: last window ends at %d beyond padded size %d", c.name, last, c.in+w.pad+w.padAfter)
		}
	}
}

func TestNewWindowErrors(t *testing.T) {
	cases := []struct {
		name                         string
		padding                      int8
		in, filter, stride, dilation int
		unsupported                  bool
	}{
		{"valid no output", paddingValid, 2, 3, 1, 1, false},
		{"valid dilated no output", paddingValid, 4, 3, 1, 2, false},
		{"zero stride", paddingSame, 4, 3, 0, 1, false},
		{"negative stride", paddingSame, 4, 3, -2, 1, false},
		{"zero dilation", paddingSame, 4, 3, 1, 0, false},
		{"zero filter", paddingSame, 4, 0, 1, 1, false},
		{"huge filter", paddingSame, 4, 1 << 20, 1, 1, false},
		{"huge dilation", paddingSame, 4, 3, 1, 1 << 30, false},
		{"empty input", paddingSame, 0, 1, 1, 1, false},
		{"unknown padding", 7, 4, 3, 1, 1, true},
	}
	for _, c := range cases {
		_, err := newWindow(c.padding, c.in, c.filter, c.stride, c.dilation)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if errors.Is(err, errUnsupported) != c.unsupported {
			t.Errorf("%s: errors.Is(err, errUnsupported) = %v, want %v (%v)", c.name, !c.unsupported, c.unsupported, err)
		}
	}
}
