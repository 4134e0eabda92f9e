// Package natstest runs a real NATS cluster for tests: N nats-server processes on loopback
// ports, joined by routes, each with JetStream (file storage in the test's temp dir) and the
// MQTT gateway, so MQTT clients can connect to any node. Single nodes can be stopped, killed
// (SIGKILL, as a crashed host) and started again on the same ports with the same storage. Every
// process is killed and its files removed by t.Cleanup.
//
//	c := natstest.Start(t, natstest.Options{Nodes: 3})
//	cfg.Brokers = c.URLs()                        // tcp://127.0.0.1:<mqtt port> of each node
//	c.Node(0).Kill(); ...; c.Node(0).Start()      // a node crash, then its return
//	leader := c.StreamLeader(natstest.MQTTMessages) // the node holding the QoS 1 stream's leader
//
// Tests that use it fail when no nats-server binary exists (the Makefile's deps target installs
// Debian's); set NATS_SERVER to use a binary other than /usr/sbin/nats-server or the one on PATH.
package natstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Names of the JetStream streams NATS's MQTT gateway keeps (nats-server 2.9).
const (
	MQTTSessions = "$MQTT_sess"  // one record per client id
	MQTTMessages = "$MQTT_msgs"  // QoS 1 messages on their way to QoS 1 subscriptions
	MQTTRetained = "$MQTT_rmsgs" // retained messages
)

// Options configures a cluster. The zero value is three nodes, anonymous access.
type Options struct {
	// Nodes is the cluster size; default 3. One node makes a single server with JetStream.
	Nodes int
	// StreamReplicas sets mqtt.stream_replicas: how many copies of the MQTT streams JetStream
	// keeps. 0 leaves NATS's default, min(Nodes, 3).
	StreamReplicas int
	// Extra is appended verbatim to every node's configuration (an authorization block, say).
	Extra string
	// ProbeUser and ProbePassword are what the readiness probe connects with when Extra turns
	// anonymous access off. The probe publishes to natstest/probe.
	ProbeUser, ProbePassword string
	// ReadyTimeout bounds how long Start and Node.Start wait for a node to serve MQTT; default 30s
	// (JetStream elects its leaders first, slowly on a loaded machine).
	ReadyTimeout time.Duration
}

// Cluster is a set of nats-server processes under a test's control.
type Cluster struct {
	t     testing.TB
	bin   string
	dir   string
	opts  Options
	nodes []*Node
}

// Node is one nats-server of a Cluster.
type Node struct {
	c    *Cluster
	name string
	dir  string // store_dir
	conf string
	// ports: NATS clients, routes, MQTT, HTTP monitoring.
	client, route, mqtt, http int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  bytes.Buffer  // every run's output
}

// Binary returns the nats-server executable to use, or "" when there is none.
func Binary() string {
	if b := os.Getenv("NATS_SERVER"); b != "" {
		return b
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	if b, err := exec.LookPath("nats-server"); err == nil {
		return b
	}
	return ""
}

// Start writes the configurations, starts every node and returns once each one accepts an MQTT
// connection (which needs its JetStream to be ready).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Fatal("natstest: nats-server is not installed (make deps, or apt-get install nats-server)")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	c := &Cluster{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Kill()
		}
		if t.Failed() {
			for _, n := range c.nodes {
				t.Logf("nats-server %s log (last lines):\n%s", n.name, tail(n.Log(), 60))
			}
		}
	})
	// Another process may take a probed free port before a node binds it: try again with new ports.
	var err error
	for try := range 3 {
		for _, n := range c.nodes {
			n.Kill()
		}
		c.nodes = c.newNodes(try)
		for _, n := range c.nodes {
			if err = n.spawn(); err != nil {
				break
			}
		}
		if err == nil {
			err = c.waitReady(opts.ReadyTimeout)
		}
		if err == nil {
			return c
		}
	}
	t.Fatalf("natstest: start cluster: %v", err)
	return nil
}

func (c *Cluster) newNodes(try int) []*Node {
	nodes := make([]*Node, c.opts.Nodes)
	all := freePorts(c.t, 4*len(nodes))
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		ports := all[4*i:]
		nodes[i] = &Node{c: c, name: name, dir: filepath.Join(c.dir, fmt.Sprintf("try%d", try), name),
			client: ports[0], route: ports[1], mqtt: ports[2], http: ports[3]}
	}
	for _, n := range nodes {
		n.writeConfig(nodes)
	}
	return nodes
}

func (n *Node) writeConfig(all []*Node) {
	c := n.c
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by natstest\nserver_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", n.name, n.client, n.http)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n", n.dir)
	if len(all) > 1 {
		var routes []string
		for _, o := range all {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.route))
		}
		fmt.Fprintf(&b, "cluster {\n  name: edge\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n", n.route, strings.Join(routes, ", "))
	}
	fmt.Fprintf(&b, "mqtt {\n  listen: 127.0.0.1:%d\n", n.mqtt)
	if r := c.opts.StreamReplicas; r > 0 {
		fmt.Fprintf(&b, "  stream_replicas: %d\n", r)
	}
	b.WriteString("}\n")
	b.WriteString(c.opts.Extra)
	n.conf = filepath.Join(n.dir, "nats.conf")
	if err := os.WriteFile(n.conf, []byte(b.String()), 0o644); err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
}

// waitReady waits until every running node serves MQTT.
func (c *Cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		if err := n.waitReady(deadline); err != nil {
			return err
		}
	}
	return nil
}

// Nodes returns the nodes, in the order of their names n1, n2, ...
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the i-th node (from 0).
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// URLs returns every node's MQTT URL, in node order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL()
	}
	return urls
}

// NodeByURL returns the node whose MQTT URL is url, or nil.
func (c *Cluster) NodeByURL(url string) *Node {
	for _, n := range c.nodes {
		if n.URL() == url {
			return n
		}
	}
	return nil
}

// StreamLeader returns the node that leads the stream (one of the MQTT* names) as a running
// node sees it, or nil when none is known.
func (c *Cluster) StreamLeader(stream string) *Node {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if err := n.monitor("/jsz?streams=true", &jsz); err != nil {
			continue
		}
		for _, a := range jsz.Accounts {
			for _, s := range a.Streams {
				if s.Name == stream {
					for _, o := range c.nodes {
						if o.name == s.Cluster.Leader {
							return o
						}
					}
				}
			}
		}
	}
	return nil
}

// Name returns the node's server name (n1, n2, ...).
func (n *Node) Name() string { return n.name }

// URL returns the node's MQTT URL, tcp://127.0.0.1:port.
func (n *Node) URL() string { return "tcp://" + n.Addr() }

// Addr returns the host:port of the node's MQTT listener.
func (n *Node) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.mqtt)) }

// Log returns everything the node has logged so far, across restarts.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// Running reports whether the node's process is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Kill ends the node abruptly (SIGKILL), as a crash or a power cut of its host would: its
// clients' connections die without a word from it. Kill on a stopped node does nothing.
func (n *Node) Kill() { n.signal(syscall.SIGKILL) }

// Stop ends the node gracefully (SIGTERM, which closes client connections) and waits for it.
func (n *Node) Stop() { n.signal(syscall.SIGTERM) }

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	n.mu.Lock()
	n.cmd = nil
	n.mu.Unlock()
}

// Start starts a stopped node again, on the same ports with the same storage, and waits until it
// serves MQTT again (it first catches up with the cluster). Start on a running node does nothing.
func (n *Node) Start() {
	n.c.t.Helper()
	deadline := time.Now().Add(n.c.opts.ReadyTimeout)
	var err error
	for time.Now().Before(deadline) {
		// The old process's ports may linger for a moment.
		if err = n.spawn(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err == nil {
		err = n.waitReady(deadline)
	}
	if err != nil {
		n.c.t.Fatalf("natstest: restart %s: %v\n%s", n.name, err, tail(n.Log(), 60))
	}
}

// spawn starts the process and waits until it listens for MQTT.
func (n *Node) spawn() error {
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		return nil
	}
	cmd := exec.Command(n.c.bin, "-c", n.conf)
	w := lockedWriter{&n.mu, &n.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		n.mu.Unlock()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	done := make(chan struct{})
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			n.mu.Lock()
			n.cmd = nil
			n.mu.Unlock()
			return fmt.Errorf("nats-server %s exited at startup: %s\n%s", n.name, cmd.ProcessState, tail(n.Log(), 20))
		default:
		}
		if conn, err := net.DialTimeout("tcp", n.Addr(), time.Second); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Kill()
	return fmt.Errorf("nats-server %s did not listen on %s within 10s", n.name, n.Addr())
}

// WaitReady waits up to timeout until the node serves MQTT and says it is healthy. After another
// node died this takes as long as JetStream needs to elect new leaders for the streams that node
// led: until then NATS answers CONNECT by closing the connection.
func (n *Node) WaitReady(timeout time.Duration) error {
	return n.waitReady(time.Now().Add(timeout))
}

// waitReady waits until an MQTT client can connect to the node: NATS accepts the TCP connection
// early but refuses CONNECT until its JetStream has joined the cluster and the MQTT streams exist.
func (n *Node) waitReady(deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		if !n.Running() {
			return fmt.Errorf("nats-server %s is not running", n.name)
		}
		if last = n.probe(); last == nil {
			last = n.c.leadersUp()
			if last == nil && !n.Healthy() {
				last = errors.New("/healthz not ok")
			}
			if last == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nats-server %s did not serve MQTT in time: %w", n.name, last)
}

// leadersUp checks that each MQTT stream has a leader on a running node: while one has none,
// NATS closes the connection of a client whose CONNECT, QoS 1 PUBLISH or retained message needs
// that stream, after a 4 s timeout.
func (c *Cluster) leadersUp() error {
	for _, s := range []string{MQTTSessions, MQTTMessages, MQTTRetained} {
		if l := c.StreamLeader(s); l == nil || !l.Running() {
			return fmt.Errorf("stream %s has no leader", s)
		}
	}
	return nil
}

// probe makes one MQTT connection (clean session, its own client id), publishes one QoS 1
// message (stored in JetStream before the PUBACK) and closes it cleanly.
func (n *Node) probe() error {
	o := mqtt.NewClientOptions().AddBroker(n.URL()).SetClientID("natstest-probe-" + n.name).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetProtocolVersion(4).
		SetUsername(n.c.opts.ProbeUser).SetPassword(n.c.opts.ProbePassword)
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(6 * time.Second) {
		cl.Disconnect(0)
		return fmt.Errorf("connect: timed out")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	defer cl.Disconnect(50)
	ptok := cl.Publish("natstest/probe", 1, false, "probe")
	if !ptok.WaitTimeout(6 * time.Second) {
		return fmt.Errorf("publish: timed out")
	}
	return ptok.Error()
}

// monitor reads a JSON endpoint of the node's HTTP monitoring port into v.
func (n *Node) monitor(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", n.http, path), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// Healthy reports whether the node's /healthz says it is ready (JetStream current included).
func (n *Node) Healthy() bool {
	var h struct {
		Status string `json:"status"`
	}
	return n.monitor("/healthz", &h) == nil && h.Status == "ok"
}

func freePorts(t testing.TB, k int) []int {
	ports := make([]int, k)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: find a free port: %v", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
