package operator_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

// BenchmarkFleet pushes the bundled 4.2 MB SSD model to a group of N simulated devices (the real
// updater, sync client and outbox of each, with a stand-in runtime) on a local mosquitto and
// reports the time from the push to every device committed, and the broker's message and byte
// rates meanwhile (from its $SYS counters). `make bench-fleet` runs it for N = 10, 100 and 500;
// FLEET_SIZES=10,50 picks others.
func BenchmarkFleet(b *testing.B) {
	sizes := []int{10, 100, 500}
	if s := os.Getenv("FLEET_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("FLEET_SIZES: %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	model := otatest.ReadFile(b, otatest.SSD)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			for range b.N {
				benchFleet(b, n, model)
			}
		})
	}
}

func benchFleet(b *testing.B, n int, model []byte) {
	b.StopTimer()
	broker := mqtttest.Start(b, mqtttest.Options{Quiet: true, Extra: "sys_interval 1\nmax_queued_messages 10000\n"})
	s := otatest.NewSigner(b)
	devs := make([]*otatest.Device, n)
	var wg gosync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		cfg := otatest.Config(b, fmt.Sprintf("sim-%04d", i), s.Pub)
		cfg.HealthFrames, cfg.RequestIdle = 3, time.Second
		d := otatest.NewDevice(b, broker.URL(), cfg)
		d.NewRuntime = func() *otatest.Runtime {
			rt := otatest.NewRuntime()
			rt.Cheap, rt.FrameEvery = true, 100*time.Millisecond
			return rt
		}
		devs[i] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := d.StartAsync(); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for _, d := range devs {
		d.WaitConnected(2 * time.Minute)
	}
	sys := watchSys(b, broker.URL())
	time.Sleep(1500 * time.Millisecond) // the retained statuses, and a $SYS sample before the push
	conn := dial(b, broker.URL())
	_, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "ssd", Version: "2", Target: ota.Target{Groups: []string{"lobby"}}})
	if err != nil {
		b.Fatal(err)
	}
	msgs0, bytes0 := sys.counters()
	b.StartTimer()
	t0 := time.Now()
	res, err := operator.Push(context.Background(), conn, operator.PushOptions{Model: model, Envelope: env, Wait: 30 * time.Minute})
	elapsed := time.Since(t0)
	b.StopTimer()
	if err != nil || res.Outcome() != "ok" || len(res.Devices) != n {
		b.Fatalf("push: %s, %d devices, %v", res.Outcome(), len(res.Devices), err)
	}
	time.Sleep(1100 * time.Millisecond) // the next $SYS sample
	msgs1, bytes1 := sys.counters()
	secs := elapsed.Seconds()
	b.ReportMetric(secs, "s-to-all-committed")
	b.ReportMetric(float64(msgs1-msgs0)/secs, "broker-msgs/s")
	b.ReportMetric(float64(bytes1-bytes0)/secs/1e6, "broker-MB/s")
	b.Logf("%d devices: all committed %.1f s after the push; broker sent %d messages (%.0f/s), %.0f MB (%.1f MB/s)",
		n, secs, msgs1-msgs0, float64(msgs1-msgs0)/secs, float64(bytes1-bytes0)/1e6, float64(bytes1-bytes0)/secs/1e6)
	for _, d := range devs {
		d.Stop()
	}
}

// sysWatch follows mosquitto's cumulative counters of messages and bytes sent.
type sysWatch struct {
	mu          gosync.Mutex
	msgs, bytes int64
}

func watchSys(b *testing.B, url string) *sysWatch {
	w := &sysWatch{}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-sys")
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	for topic, dst := range map[string]*int64{"$SYS/broker/messages/sent": &w.msgs, "$SYS/broker/bytes/sent": &w.bytes} {
		c.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
			v, err := strconv.ParseInt(string(m.Payload()), 10, 64)
			if err == nil {
				w.mu.Lock()
				*dst = v
				w.mu.Unlock()
			}
		}).Wait()
	}
	return w
}

func (w *sysWatch) counters() (msgs, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs, w.bytes
}
