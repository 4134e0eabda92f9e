package sync

// Outbox is the durable queue the publisher drains; store.DB implements it. Records are identified
// by their sequence number, and Scan returns them in sequence order.
type Outbox interface {
	// Scan calls fn for up to max records with sequence numbers greater than after, oldest first.
	// payload is only valid during the call.
	Scan(after uint64, max int, fn func(seq uint64, payload []byte) error) error
	// Ack deletes records the broker has acknowledged.
	Ack(seqs ...uint64) error
	// Committed returns a channel that receives a value after new records have been committed.
	Committed() <-chan struct{}
}
