//go:build !long

package store_test

// crashRounds is how many times TestCrash kills the producer; -tags long runs more.
const crashRounds = 30
