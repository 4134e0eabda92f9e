package ota

import (
	"errors"
	"strconv"
	"strings"
)

// version is a parsed model version: dotted numbers with an optional pre-release, compared like
// semantic versioning (https://semver.org, section 11) but with any number of numeric parts.
type version struct {
	nums []uint64
	pre  []string // identifiers after '-'; empty for a release
}

// parseVersion accepts "1", "1.2.3", "2024.06.01", "2.0.0-rc.1" and the like: one or more
// dot-separated decimal numbers, optionally '-' and dot-separated identifiers of [0-9A-Za-z-],
// optionally '+' and build metadata (ignored in comparisons).
func parseVersion(s string) (version, error) {
	var v version
	if s == "" {
		return v, errors.New("empty")
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if !validIdents(s[i+1:], false) {
			return v, errors.New("bad build metadata after '+'")
		}
		s = s[:i]
	}
	core := s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		core = s[:i]
		if !validIdents(s[i+1:], true) {
			return v, errors.New("bad pre-release after '-'")
		}
		v.pre = strings.Split(s[i+1:], ".")
	}
	for _, p := range strings.Split(core, ".") {
		if p == "" || len(p) > 18 || strings.Trim(p, "0123456789") != "" {
			return v, errors.New("want dot-separated numbers such as 1.2.3")
		}
		n, _ := strconv.ParseUint(p, 10, 64)
		v.nums = append(v.nums, n)
	}
	return v, nil
}

func validIdents(s string, noLeadingZero bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
			return false
		}
		if noLeadingZero && len(id) > 1 && id[0] == '0' && strings.Trim(id, "0123456789") == "" {
			return false
		}
	}
	return true
}

// CompareVersions compares two model versions: -1 if a is older than b, 0 if they are equal,
// +1 if a is newer. Missing numeric parts count as 0 (1.2 == 1.2.0); a pre-release is older than
// its release (2.0.0-rc.1 < 2.0.0); build metadata is ignored. ok is false when either does not
// parse.
func CompareVersions(a, b string) (cmp int, ok bool) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, false
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, false
	}
	for i := range max(len(va.nums), len(vb.nums)) {
		var x, y uint64
		if i < len(va.nums) {
			x = va.nums[i]
		}
		if i < len(vb.nums) {
			y = vb.nums[i]
		}
		if x != y {
			return sign(x > y), true
		}
	}
	switch {
	case len(va.pre) == 0 && len(vb.pre) == 0:
		return 0, true
	case len(va.pre) == 0:
		return 1, true
	case len(vb.pre) == 0:
		return -1, true
	}
	for i := range min(len(va.pre), len(vb.pre)) {
		if c := compareIdent(va.pre[i], vb.pre[i]); c != 0 {
			return c, true
		}
	}
	switch {
	case len(va.pre) < len(vb.pre):
		return -1, true
	case len(va.pre) > len(vb.pre):
		return 1, true
	}
	return 0, true
}

func compareIdent(a, b string) int {
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		if an == bn {
			return 0
		}
		return sign(an > bn)
	case aerr == nil: // numeric identifiers sort before alphanumeric ones
		return -1
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func sign(greater bool) int {
	if greater {
		return 1
	}
	return -1
}
