package store_test

import (
	"github.com/edge-agent/edge-agent/store"
	outbox "github.com/edge-agent/edge-agent/sync"
)

// The store is the publisher's outbox.
var _ outbox.Outbox = (*store.DB)(nil)
