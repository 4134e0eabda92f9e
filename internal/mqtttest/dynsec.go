package mqtttest

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"sort"
	"testing"
)

// DynSecUser is a user of the dynamic-security plugin and the topic filters it may use.
type DynSecUser struct {
	Password  string
	Publish   []string // topic filters the user may publish to
	Subscribe []string // topic filters the user may subscribe to (and so receive)
}

func dynSecPlugin(t testing.TB) string {
	m, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so")
	if len(m) == 0 {
		t.Fatal("mqtttest: mosquitto_dynamic_security.so not found (Debian's mosquitto package ships it)")
	}
	return m[0]
}

// dynSecConfig writes the plugin's JSON state: one role per user, default deny.
func dynSecConfig(t testing.TB, users map[string]DynSecUser) string {
	type acl struct {
		Type  string `json:"acltype"`
		Topic string `json:"topic"`
		Allow bool   `json:"allow"`
	}
	type role struct {
		Name string `json:"rolename"`
		ACLs []acl  `json:"acls"`
	}
	type roleRef struct {
		Name string `json:"rolename"`
	}
	type client struct {
		Username   string    `json:"username"`
		Password   string    `json:"password"`
		Salt       string    `json:"salt"`
		Iterations int       `json:"iterations"`
		Roles      []roleRef `json:"roles"`
	}
	cfg := struct {
		Default map[string]bool `json:"defaultACLAccess"`
		Clients []client        `json:"clients"`
		Roles   []role          `json:"roles"`
	}{Default: map[string]bool{"publishClientSend": false, "publishClientReceive": true, "subscribe": false, "unsubscribe": true}}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := users[n]
		salt := make([]byte, 12)
		if _, err := rand.Read(salt); err != nil {
			t.Fatalf("mqtttest: salt: %v", err)
		}
		const iterations = 101
		hash, err := pbkdf2.Key(sha512.New, u.Password, salt, iterations, 64)
		if err != nil {
			t.Fatalf("mqtttest: pbkdf2: %v", err)
		}
		r := role{Name: "role-" + n}
		for _, f := range u.Publish {
			r.ACLs = append(r.ACLs, acl{"publishClientSend", f, true})
		}
		for _, f := range u.Subscribe {
			r.ACLs = append(r.ACLs, acl{"subscribePattern", f, true})
		}
		cfg.Roles = append(cfg.Roles, r)
		cfg.Clients = append(cfg.Clients, client{n, base64.StdEncoding.EncodeToString(hash),
			base64.StdEncoding.EncodeToString(salt), iterations, []roleRef{{r.Name}}})
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	return string(b)
}
