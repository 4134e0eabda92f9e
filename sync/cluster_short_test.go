//go:build !long

package sync

import (
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/natstest"
)

// TestCluster runs the cluster scenarios on one 3-node NATS cluster, briefly: the node loss, and
// a fleet spread over the nodes without one (make test-long kills a node under a larger fleet).
func TestCluster(t *testing.T) {
	if testing.Short() {
		// make test runs it without -short; the -race -short pass covers failover on mosquitto
		// (TestFailoverBetweenBrokers) at a fraction of the cost.
		t.Skip("a 3-node cluster for 25 s: not in -short")
	}
	c := natstest.Start(t, natstest.Options{})
	t.Run("NodeLoss", func(t *testing.T) { clusterNodeLoss(t, c, 2*time.Second) })
	t.Run("Fleet", func(t *testing.T) { clusterFleet(t, c, 6, 3*time.Second, false) })
}
