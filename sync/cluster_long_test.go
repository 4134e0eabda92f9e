//go:build long

package sync

import (
	"fmt"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/natstest"
)

// TestCluster runs the cluster scenarios at length: the node loss three times (each time the
// node leading the message stream, wherever the leadership has moved), and a fleet of 30
// devices with a node killed under it.
func TestCluster(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	var unconnected, noAck []time.Duration
	for i := range 3 {
		t.Run(fmt.Sprintf("NodeLoss%d", i+1), func(t *testing.T) {
			u, n := clusterNodeLoss(t, c, 10*time.Second)
			unconnected, noAck = append(unconnected, u), append(noAck, n)
		})
	}
	t.Logf("node loss: without a connection for %v, without acknowledgements for %v", unconnected, noAck)
	t.Run("Fleet", func(t *testing.T) { clusterFleet(t, c, 30, 20*time.Second, true) })
}
