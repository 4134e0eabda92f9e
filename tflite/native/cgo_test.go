//go:build cgo

package native_test

const cgo = true
