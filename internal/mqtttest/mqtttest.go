// Package mqtttest runs a real mosquitto broker for tests: each Broker gets its own generated
// configuration (plain TCP, TLS, mutual TLS, ACL and password files, the dynamic-security plugin) on a free
// localhost port, and can be stopped and started again on the same port to simulate outages.
// The broker is killed and its files removed by t.Cleanup.
//
//	pki := mqtttest.NewPKI(t, "dev1")                  // CA, server and client certificates
//	b := mqtttest.Start(t, mqtttest.Options{PKI: pki, RequireClientCert: true,
//		ACL: "pattern readwrite edge/%u/#\n"})        // mTLS; the certificate CN is the user
//	cfg.Broker, cfg.CAFile = b.URL(), pki.CAFile         // ssl://127.0.0.1:<port>
//	b.Stop(); b.Start()                                  // an outage, same port
//	p := mqtttest.NewProxy(t, b.Addr()); p.Cut()         // a dead link (triggers the will)
//
// Tests that use it fail when no mosquitto binary exists (the Makefile's deps target installs
// it); set MOSQUITTO to use a binary other than /usr/sbin/mosquitto or the one on PATH.
package mqtttest

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options selects the broker's configuration. The zero value is a plain TCP listener that allows
// anonymous clients everything.
type Options struct {
	// PKI, when set, makes the listener TLS with PKI's server certificate.
	PKI *PKI
	// RequireClientCert makes the TLS listener demand a client certificate signed by PKI's CA
	// (mutual TLS) and use its common name as the username (for ACLs).
	RequireClientCert bool
	// Users, when not empty, turns off anonymous access: only these username/password pairs connect.
	Users map[string]string
	// ACL is the content of an acl_file (mosquitto.conf(5)); empty means no ACL. Note that with
	// an acl_file mosquitto 2.0 grants every SUBSCRIBE and filters at delivery; use DynSec to get
	// SUBACK failures.
	ACL string
	// DynSec, when not empty, loads mosquitto's dynamic-security plugin with these users instead
	// of Users/ACL. Anything not allowed by a user's lists is denied, subscriptions included
	// (SUBACK 0x80).
	DynSec map[string]DynSecUser
	// Persistence keeps sessions and queued messages across Stop/Start (saved on SIGTERM, not
	// on Kill), so a subscriber with a persistent session misses nothing during an outage.
	Persistence bool
	// Quiet logs only errors, warnings and notices instead of every packet: for benchmarks,
	// where logging each message would cost more than handling it.
	Quiet bool
	// Extra is appended to the generated mosquitto.conf verbatim.
	Extra string
}

// Broker is a mosquitto process under a test's control.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int
	opts Options

	mu  sync.Mutex    // guards cmd, log and done
	cmd *exec.Cmd     // the running process, nil when stopped
	log *bytes.Buffer // combined output of every run
	// done is closed when the current process has exited.
	done chan struct{}
}

// Binary returns the mosquitto executable to use, or "" when there is none.
func Binary() string {
	if b := os.Getenv("MOSQUITTO"); b != "" {
		return b
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	if b, err := exec.LookPath("mosquitto"); err == nil {
		return b
	}
	return ""
}

// Start writes the configuration and starts mosquitto, returning once it accepts connections.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Fatal("mqtttest: mosquitto is not installed (make deps, or apt-get install mosquitto)")
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), opts: opts, log: new(bytes.Buffer)}
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.Log())
		}
	})
	// Another process may grab the free port between probing and binding it: try a few.
	var err error
	for range 5 {
		b.port = freePort(t)
		b.writeConfig()
		if err = b.start(); err == nil {
			return b
		}
	}
	t.Fatalf("mqtttest: start mosquitto: %v\n%s", err, b.Log())
	return nil
}

// URL returns the broker URL for clients: tcp:// or ssl:// and 127.0.0.1:port.
func (b *Broker) URL() string {
	scheme := "tcp"
	if b.opts.PKI != nil {
		scheme = "ssl"
	}
	return fmt.Sprintf("%s://%s", scheme, b.Addr())
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Port returns the listening port.
func (b *Broker) Port() int { return b.port }

// Log returns everything mosquitto has logged so far, across restarts.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// Stop terminates the broker gracefully (SIGTERM) and waits for it to exit. Clients see their
// connections closed. Stop on a stopped broker does nothing.
func (b *Broker) Stop() {
	b.t.Helper()
	b.signal(syscall.SIGTERM)
}

// Kill terminates the broker abruptly (SIGKILL), as a power cut of the broker host would.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused broker handles SIGTERM only once running
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
}

// Pause freezes the broker (SIGSTOP): connections stay open but nothing is answered, as with a
// hung broker or a link that silently drops everything. Resume undoes it.
func (b *Broker) Pause() { b.sendSignal(syscall.SIGSTOP) }

// Resume continues a paused broker (SIGCONT).
func (b *Broker) Resume() { b.sendSignal(syscall.SIGCONT) }

func (b *Broker) sendSignal(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		_ = b.cmd.Process.Signal(sig)
	}
}

// Start starts a stopped broker again on the same port with the same configuration.
func (b *Broker) Start() {
	b.t.Helper()
	var err error
	// The port may linger briefly after the old process exits.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("mqtttest: restart mosquitto: %v\n%s", err, b.Log())
}

func (b *Broker) start() error {
	b.mu.Lock()
	if b.cmd != nil {
		b.mu.Unlock()
		return nil
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout = lockedWriter{&b.mu, b.log}
	cmd.Stderr = lockedWriter{&b.mu, b.log}
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			b.mu.Lock()
			b.cmd = nil
			b.mu.Unlock()
			return fmt.Errorf("mosquitto exited at startup: %s", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
	return fmt.Errorf("mosquitto did not listen on %s within 10s", b.Addr())
}

func (b *Broker) writeConfig() {
	t := b.t
	var c strings.Builder
	fmt.Fprintf(&c, "# generated by mqtttest\nper_listener_settings false\n")
	if b.opts.Persistence {
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nmax_queued_messages 0\n", b.dir)
	} else {
		c.WriteString("persistence false\n")
	}
	c.WriteString("log_dest stderr\nconnection_messages true\n")
	if b.opts.Quiet {
		c.WriteString("log_type error\nlog_type warning\nlog_type notice\n")
	} else {
		c.WriteString("log_type all\n")
	}
	// As root mosquitto drops privileges to "mosquitto", which cannot read the test's files.
	if u, err := user.Current(); err == nil {
		fmt.Fprintf(&c, "user %s\n", u.Username)
	}
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	if p := b.opts.PKI; p != nil {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", p.CAFile, p.ServerCertFile, p.ServerKeyFile)
		if b.opts.RequireClientCert {
			c.WriteString("require_certificate true\nuse_identity_as_username true\n")
		}
	}
	if len(b.opts.DynSec) > 0 {
		ds := filepath.Join(b.dir, "dynsec.json")
		writeFile(t, ds, dynSecConfig(t, b.opts.DynSec))
		fmt.Fprintf(&c, "allow_anonymous false\nplugin %s\nplugin_opt_config_file %s\n", dynSecPlugin(t), ds)
	} else if len(b.opts.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		writeFile(t, pw, passwordFile(t, b.opts.Users))
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if b.opts.ACL != "" {
		acl := filepath.Join(b.dir, "acl")
		writeFile(t, acl, b.opts.ACL)
		fmt.Fprintf(&c, "acl_file %s\n", acl)
	}
	c.WriteString(b.opts.Extra)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	writeFile(t, b.conf, c.String())
}

// passwordFile encodes users in mosquitto 2.0's password file format: PBKDF2-SHA512 ("$7$").
func passwordFile(t testing.TB, users map[string]string) string {
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var s strings.Builder
	for _, u := range names {
		salt := make([]byte, 12)
		if _, err := rand.Read(salt); err != nil {
			t.Fatalf("mqtttest: salt: %v", err)
		}
		const iterations = 101
		hash, err := pbkdf2.Key(sha512.New, users[u], salt, iterations, 64)
		if err != nil {
			t.Fatalf("mqtttest: pbkdf2: %v", err)
		}
		fmt.Fprintf(&s, "%s:$7$%d$%s$%s\n", u, iterations,
			base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(hash))
	}
	return s.String()
}

func writeFile(t testing.TB, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mqtttest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
