package operator_test

import (
	"context"
	"fmt"
	"os"
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

// recorder is a plain client that records what it receives.
type recorder struct {
	c    mqtt.Client
	mu   gosync.Mutex
	msgs map[string][]string // topic -> payloads
}

func connectAs(t *testing.T, url, user string, filters ...string) *recorder {
	t.Helper()
	r := &recorder{msgs: map[string][]string{}}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("%s-probe-%d", user, time.Now().UnixNano())).
		SetUsername(user).SetPassword("pw-" + user).SetCleanSession(true)
	r.c = mqtt.NewClient(o)
	if tok := r.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", user, tok.Error())
	}
	t.Cleanup(func() { r.c.Disconnect(100) })
	for _, f := range filters {
		if tok := r.c.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) {
			r.mu.Lock()
			r.msgs[m.Topic()] = append(r.msgs[m.Topic()], string(m.Payload()))
			r.mu.Unlock()
		}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: subscribe: %v", user, tok.Error())
		}
	}
	return r
}

func (r *recorder) publish(t *testing.T, topic, payload string) {
	t.Helper()
	// mosquitto acknowledges a denied publish like any other (MQTT 3.1.1) and drops it.
	if tok := r.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func (r *recorder) got(topic string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[topic]...)
}

// TestExampleACL runs mosquitto with deploy-arm/mosquitto-ota.acl as shipped: a device cannot
// write another device's topics nor the update topics, reads only its own and its groups'
// update topics; an update signed with a key the devices do not trust is rejected with the
// reason "signature"; a trusted one reaches the group it is for, and only that group.
func TestExampleACL(t *testing.T) {
	acl, err := os.ReadFile("../../deploy-arm/mosquitto-ota.acl")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{}
	for _, u := range []string{"cam-01", "cam-02", "ota-operator", "ota-serve", "dashboard"} {
		users[u] = "pw-" + u
	}
	b := mqtttest.Start(t, mqtttest.Options{Users: users, ACL: string(acl)})
	trusted, untrusted := otatest.NewSigner(t), otatest.NewSigner(t)
	devs := map[string]*otatest.Device{}
	for id, groups := range map[string][]string{"cam-01": {"lobby"}, "cam-02": {"all", "garage"}} {
		cfg := otatest.Config(t, id, trusted.Pub)
		cfg.Groups = groups
		d := otatest.NewDevice(t, b.URL(), cfg)
		d.Username, d.Password = id, "pw-"+id
		d.Start()
		devs[id] = d
	}

	// cam-02 tries to write cam-01's topics and the update topics; its own topic is the control.
	watch := connectAs(t, b.URL(), "ota-operator", "edge/+/model/status", "edge/+/model/req", "edge/ota/#")
	mallory := connectAs(t, b.URL(), "cam-02", "edge/ota/#", "edge/cam-01/#")
	forged := []string{"edge/cam-01/model/status", "edge/cam-01/model/req", "edge/ota/group/lobby/manifest", "edge/ota/device/cam-01/chunk"}
	for _, topic := range forged {
		mallory.publish(t, topic, `{"v":1,"forged":true}`)
	}
	mallory.publish(t, "edge/cam-02/model/req", `{"v":1,"control":true}`)
	otatest.WaitFor(t, 5*time.Second, "the control message", func() bool { return len(watch.got("edge/cam-02/model/req")) == 1 })
	// What cam-01's own devices and the operator publish, cam-02 must not see either.
	op := connectAs(t, b.URL(), "ota-operator")
	op.publish(t, "edge/ota/device/cam-01/chunk", "for cam-01")
	op.publish(t, "edge/ota/group/lobby/chunk", "for lobby")
	op.publish(t, "edge/ota/group/all/chunk", "for all")
	otatest.WaitFor(t, 5*time.Second, "cam-02's group message", func() bool { return len(mallory.got("edge/ota/group/all/chunk")) == 1 })
	time.Sleep(300 * time.Millisecond)
	for _, topic := range forged {
		for _, p := range watch.got(topic) {
			if strings.Contains(p, `"forged":true`) {
				t.Errorf("a device wrote %s: %s", topic, p)
			}
		}
	}
	for _, topic := range []string{"edge/ota/device/cam-01/chunk", "edge/ota/group/lobby/chunk"} {
		if got := mallory.got(topic); len(got) != 0 {
			t.Errorf("cam-02 read %s: %v", topic, got)
		}
	}
	// The dashboard reads statuses but cannot push.
	dash := connectAs(t, b.URL(), "dashboard", "edge/+/model/status")
	dash.publish(t, "edge/ota/group/all/manifest", "not allowed")

	ctx := context.Background()
	conn, err := operator.Dial(ctx, operator.Broker{URL: b.URL(), Username: "ota-operator", Password: "pw-ota-operator"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	model := otatest.ReadFile(t, otatest.Sin)
	_, env, err := operator.SignUpdate(model, untrusted.Priv, ota.UpdateOptions{Name: "sin", Version: "2", ChunkSize: 1024,
		Target: ota.Target{Groups: []string{"lobby"}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := operator.Push(ctx, conn, operator.PushOptions{Model: model, Envelope: env, Wait: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 1 || res.Devices[0].Device != "cam-01" || res.Devices[0].Status.State != ota.StateRejected ||
		res.Devices[0].Status.Check != ota.CheckSignature {
		t.Fatalf("untrusted push: %+v", res.Devices)
	}
	t.Logf("cam-01: %s", res.Devices[0].Status.Reason)

	m, env, err := operator.SignUpdate(model, trusted.Priv, ota.UpdateOptions{Name: "sin", Version: "2", ChunkSize: 1024,
		Target: ota.Target{Groups: []string{"all"}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err = operator.Push(ctx, conn, operator.PushOptions{Model: model, Envelope: env, Wait: 15 * time.Second})
	if err != nil || res.Outcome() != "ok" || len(res.Devices) != 1 || res.Devices[0].Device != "cam-02" {
		t.Fatalf("trusted push: %s %+v, %v", res.Outcome(), res.Devices, err)
	}
	if got := devs["cam-02"].CheckOneValidModel(); got.SHA256 != m.SHA256 {
		t.Fatalf("cam-02 runs %s", got.Name)
	}
	if got := devs["cam-01"].CheckOneValidModel(); got.SHA256 == m.SHA256 {
		t.Fatal("cam-01, not in group all, installed the update")
	}
}
