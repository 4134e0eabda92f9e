package sync

// Outbox is the durable queue the publisher drains; store.DB implements it. Records are identified
// by their sequence number, and Scan returns them in sequence order.
//
// The Client relies on: sequence numbers that increase in commit order and are never reused (so
// "oldest first" is the order predictions were made); Scan seeing every record whose Append has
// returned; Ack being durable when it returns (a record acknowledged by the broker is not sent
// again after a power cut) and ignoring seqs already gone (dropped by policy meanwhile); and
// Committed being read by the Client alone (a signal taken by another reader is only noticed by
// the Client's one-second poll).
type Outbox interface {
	// Scan calls fn for up to max records with sequence numbers greater than after, oldest first.
	// payload is only valid during the call.
	Scan(after uint64, max int, fn func(seq uint64, payload []byte) error) error
	// Ack deletes records the broker has acknowledged.
	Ack(seqs ...uint64) error
	// Committed returns a channel that receives a value after new records have been committed.
	Committed() <-chan struct{}
}
