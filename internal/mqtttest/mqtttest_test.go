package mqtttest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func connect(t *testing.T, url string, mod func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(t.Name()).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if mod != nil {
		mod(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// roundTrip subscribes to topic, publishes to it and reports whether the message came back.
func roundTrip(t *testing.T, c mqtt.Client, topic string) (subAck byte, got bool) {
	t.Helper()
	recv := make(chan struct{}, 1)
	st := c.Subscribe(topic, 1, func(mqtt.Client, mqtt.Message) {
		select {
		case recv <- struct{}{}:
		default:
		}
	})
	st.Wait()
	if st.Error() != nil {
		t.Fatalf("subscribe: %v", st.Error())
	}
	subAck = st.(*mqtt.SubscribeToken).Result()[topic]
	pt := c.Publish(topic, 1, false, "hello")
	pt.Wait()
	if pt.Error() != nil {
		t.Fatalf("publish: %v", pt.Error())
	}
	select {
	case <-recv:
		return subAck, true
	case <-time.After(500 * time.Millisecond):
		return subAck, false
	}
}

func TestPlainStopStart(t *testing.T) {
	b := Start(t, Options{})
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL = %q", b.URL())
	}
	c, err := connect(t, b.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := roundTrip(t, c, "a/b"); !got {
		t.Fatal("message did not come back")
	}
	b.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Fatal("client still connected after Stop")
	}
	if _, err := connect(t, b.URL(), nil); err == nil {
		t.Fatal("connected to a stopped broker")
	}
	b.Start()
	c2, err := connect(t, b.URL(), nil)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if _, got := roundTrip(t, c2, "a/b"); !got {
		t.Fatal("message did not come back after restart")
	}
}

// TestACLBehaviour pins down what mosquitto does with denied operations for MQTT 3.1.1 clients,
// which the sync package's detection relies on: with an acl_file a SUBSCRIBE is always granted and a
// denied PUBLISH is acknowledged (PUBACK) and dropped.
func TestACLBehaviour(t *testing.T) {
	b := Start(t, Options{
		Users: map[string]string{"dev1": "secret"},
		ACL:   "user dev1\ntopic readwrite ok/#\ntopic read ro/#\n",
	})
	auth := func(o *mqtt.ClientOptions) { o.SetUsername("dev1").SetPassword("secret") }
	if _, err := connect(t, b.URL(), func(o *mqtt.ClientOptions) { o.SetUsername("dev1").SetPassword("wrong") }); err == nil {
		t.Fatal("wrong password accepted")
	}
	c, err := connect(t, b.URL(), auth)
	if err != nil {
		t.Fatal(err)
	}
	if code, got := roundTrip(t, c, "ok/x"); code != 1 || !got {
		t.Fatalf("allowed topic: suback %#x, received %v", code, got)
	}
	if code, got := roundTrip(t, c, "ro/x"); code != 1 || got {
		t.Fatalf("read-only topic: suback %#x, received %v (want granted, publish dropped)", code, got)
	}
	// acl_file does not check SUBSCRIBE: it is granted, and nothing is delivered.
	if code, got := roundTrip(t, c, "denied/x"); code != 1 || got {
		t.Fatalf("denied topic: suback %#x, received %v", code, got)
	}
}

func TestTLSAndMutualTLS(t *testing.T) {
	pki := NewPKI(t, "dev1")
	caPool := func(file string) *x509.CertPool {
		pem, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(pem)
		return p
	}
	b := Start(t, Options{PKI: pki})
	if !strings.HasPrefix(b.URL(), "ssl://") {
		t.Fatalf("URL = %q", b.URL())
	}
	c, err := connect(t, b.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: caPool(pki.CAFile)})
	})
	if err != nil {
		t.Fatalf("TLS: %v", err)
	}
	if _, got := roundTrip(t, c, "a"); !got {
		t.Fatal("TLS round trip failed")
	}

	m := Start(t, Options{PKI: pki, RequireClientCert: true})
	cert, err := tls.LoadX509KeyPair(pki.ClientCertFile, pki.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, m.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: caPool(pki.CAFile), Certificates: []tls.Certificate{cert}})
	}); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	if _, err := connect(t, m.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: caPool(pki.CAFile)})
	}); err == nil {
		t.Fatal("mTLS broker accepted a client without a certificate")
	}
}

func TestDynSecDeniesSubscribe(t *testing.T) {
	b := Start(t, Options{DynSec: map[string]DynSecUser{
		"dev1": {Password: "pw", Publish: []string{"ok/#", "wo/#"}, Subscribe: []string{"ok/#"}},
	}})
	c, err := connect(t, b.URL(), func(o *mqtt.ClientOptions) { o.SetUsername("dev1").SetPassword("pw") })
	if err != nil {
		t.Fatal(err)
	}
	if code, got := roundTrip(t, c, "ok/x"); code != 1 || !got {
		t.Fatalf("allowed topic: suback %#x, received %v", code, got)
	}
	if code, got := roundTrip(t, c, "denied/x"); code != 0x80 || got {
		t.Fatalf("denied topic: suback %#x, received %v; want 0x80, nothing", code, got)
	}
}
