package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestSIGTERMPublishesOffline stops the real agent with SIGTERM, 20 times in a row on the
// embedded broker and 20 times on a real mosquitto: every time a dashboard subscribed to the
// status topic sees {"state":"offline","reason":"shutdown"} (on mosquitto it stays retained).
func TestSIGTERMPublishesOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent binary many times")
	}
	bin := buildAgent(t)
	const runs = 20
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			stateDir := t.TempDir()
			var url string
			args := []string{"run", "--source", sampleClip, "--device-id", "term-pi", "--state-dir", stateDir,
				"--model", quantClassify, "--labels", imagenetLabels}
			var env []string
			if broker == "mosquitto" {
				url = mqtttest.Start(t, mqtttest.Options{}).URL()
				args = append(args, "--mqtt-url", url)
			}
			for i := range runs {
				if broker == "embedded" {
					addr := freeAddr(t)
					url = "tcp://" + addr
					env = []string{"EDGE_AGENT_MQTT_EMBEDDED_LISTEN=" + addr}
				}
				cmd := exec.Command(bin, args...)
				cmd.Env = append(agentEnv(), env...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				statuses := watchStatus(t, url, "edge/term-pi/status")
				waitStatus(t, statuses, "online", &stderr)
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Wait(); err != nil {
					t.Fatalf("run %d: agent exited with %v\n%s", i, err, stderr.String())
				}
				waitStatus(t, statuses, "shutdown", &stderr)
				statuses.close()
				if broker == "mosquitto" {
					// A dashboard that connects later gets it as the retained status.
					later := watchStatus(t, url, "edge/term-pi/status")
					waitStatus(t, later, "shutdown", &stderr)
					later.close()
				}
			}
		})
	}
}

// statusWatch is a subscriber to a device's status topic.
type statusWatch struct {
	c    mqtt.Client
	msgs chan []byte
}

// watchStatus subscribes to topic, retrying the connection while the broker (the agent's
// embedded one) is not up yet.
func watchStatus(t *testing.T, url, topic string) *statusWatch {
	t.Helper()
	w := &statusWatch{msgs: make(chan []byte, 64)}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("dash-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.c = mqtt.NewClient(opts)
		if tok := w.c.Connect(); tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot connect to %s", url)
		}
		time.Sleep(30 * time.Millisecond)
	}
	tok := w.c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { w.msgs <- m.Payload() })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return w
}

func (w *statusWatch) close() { w.c.Disconnect(0) }

// waitStatus waits for a status with state online, or offline with reason shutdown.
func waitStatus(t *testing.T, w *statusWatch, want string, log *bytes.Buffer) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case p := <-w.msgs:
			var s struct{ State, Reason string }
			if json.Unmarshal(p, &s) != nil {
				continue
			}
			if (want == "online" && s.State == "online") || (want == "shutdown" && s.State == "offline" && s.Reason == "shutdown") {
				return
			}
		case <-timeout:
			t.Fatalf("no %s status within 30 s\nagent log:\n%s", want, log.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
