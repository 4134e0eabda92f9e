//go:build long

package store_test

// crashRounds is how many times TestCrash kills the producer.
const crashRounds = 300
