// Package store is the agent's durable state in one bbolt file: the outbox of records waiting to
// be published, the sequence counter and the agent's other persistent state.
package store
