//go:build long

package native_test

const long = true
