//go:build long

package main

// longTests makes the soak variants of the tests run longer (make test-long).
const longTests = true
