// Package asyncapitest checks MQTT messages against docs/asyncapi.yaml: it finds the channel whose
// address matches a message's topic and validates the payload against the JSON Schemas of that
// channel's messages, so that the tests that watch the real agent keep the document true.
package asyncapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// docURL names the document inside the schema compiler.
const docURL = "file:///asyncapi.json"

// Doc is a loaded AsyncAPI document.
type Doc struct {
	raw      any // the document as JSON values
	channels []channel
}

type channel struct {
	name    string
	address *regexp.Regexp
	// messages are the channel's messages: a payload passes if one of them accepts it.
	messages []message
}

type message struct {
	name        string
	contentType string
	schema      *jsonschema.Schema
}

// Load reads and compiles the document at path (YAML).
func Load(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(b, &y); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Through JSON, so the schema compiler sees JSON's types (numbers as json.Number).
	j, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON-compatible: %w", path, err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI's Schema Object is a superset of draft 7
	c.AssertFormat()
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, err
	}
	d := &Doc{raw: raw}
	root, _ := raw.(map[string]any)
	channels, _ := root["channels"].(map[string]any)
	defaultType, _ := root["defaultContentType"].(string)
	for _, name := range slices.Sorted(mapKeys(channels)) {
		ch, _ := channels[name].(map[string]any)
		addr, _ := ch["address"].(string)
		re, err := addressRegexp(addr)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		cc := channel{name: name, address: re}
		msgs, _ := ch["messages"].(map[string]any)
		for _, mname := range slices.Sorted(mapKeys(msgs)) {
			ptr, m, err := d.resolve("#/channels/"+name+"/messages/"+mname, msgs[mname])
			if err != nil {
				return nil, err
			}
			ct, _ := m["contentType"].(string)
			if ct == "" {
				ct = defaultType
			}
			sch, err := c.Compile(docURL + ptr + "/payload")
			if err != nil {
				return nil, fmt.Errorf("channel %s message %s: %w", name, mname, err)
			}
			cc.messages = append(cc.messages, message{name: mname, contentType: ct, schema: sch})
		}
		d.channels = append(d.channels, cc)
	}
	return d, nil
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// resolve follows a $ref (within the document) and returns the JSON pointer of what it names.
func (d *Doc) resolve(ptr string, v any) (string, map[string]any, error) {
	for range 8 {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return ptr, m, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return "", nil, fmt.Errorf("%s: only local references are supported, got %q", ptr, ref)
		}
		ptr, v = ref, d.lookup(ref)
		if v == nil {
			return "", nil, fmt.Errorf("unresolved reference %s", ref)
		}
	}
	return "", nil, fmt.Errorf("%s: reference loop", ptr)
}

func (d *Doc) lookup(ptr string) any {
	v := d.raw
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return v
}

// addressRegexp turns an address such as {prefix}/{device}/status into a regular expression: the
// prefix parameters may span levels, the others are one level.
func addressRegexp(addr string) (*regexp.Regexp, error) {
	if addr == "" {
		return nil, fmt.Errorf("no address")
	}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range param.FindAllStringSubmatchIndex(addr, -1) {
		b.WriteString(regexp.QuoteMeta(addr[last:m[0]]))
		if name := addr[m[2]:m[3]]; name == "prefix" {
			b.WriteString(`[^#+]+?`)
		} else {
			b.WriteString(`[^/#+]+`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(addr[last:]))
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Channels returns the names of the channels whose address matches topic.
func (d *Doc) Channels(topic string) []string {
	var names []string
	for _, c := range d.channels {
		if c.address.MatchString(topic) {
			names = append(names, c.name)
		}
	}
	return names
}

// Validate checks payload, received on topic, against the document: some channel must match
// the topic and one of its messages must accept the payload. JSON messages are decoded first;
// text messages are validated as a string; binary ones (image/jpeg, OTA chunks) are checked by
// magic number.
func (d *Doc) Validate(topic string, payload []byte) error {
	var errs []string
	matched := false
	for _, c := range d.channels {
		if !c.address.MatchString(topic) {
			continue
		}
		matched = true
		for _, m := range c.messages {
			err := m.validate(payload)
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Sprintf("%s/%s: %v", c.name, m.name, err))
		}
	}
	if !matched {
		return fmt.Errorf("topic %s: no channel of the AsyncAPI document has this address", topic)
	}
	return fmt.Errorf("topic %s: payload %.300q fits no message:\n%s", topic, payload, strings.Join(errs, "\n"))
}

func (m message) validate(payload []byte) error {
	switch m.contentType {
	case "application/json":
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
		return m.schema.Validate(v)
	case "image/jpeg":
		if !bytes.HasPrefix(payload, []byte{0xff, 0xd8, 0xff}) {
			return fmt.Errorf("not a JPEG")
		}
		return nil
	case "application/vnd.edge-agent.ota-chunk":
		if len(payload) <= 44 || !bytes.HasPrefix(payload, []byte("EAC1")) {
			return fmt.Errorf("not an OTA chunk (\"EAC1\", a 44-byte header and data)")
		}
		return nil
	default: // text
		return m.schema.Validate(string(payload))
	}
}

// ValidateDocument checks the document itself against the AsyncAPI specification's JSON Schema
// (the file at specPath, testdata/asyncapi).
func (d *Doc) ValidateDocument(specPath string) error {
	f, err := os.Open(specPath)
	if err != nil {
		return err
	}
	defer f.Close()
	spec, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///asyncapi-spec.json", spec); err != nil {
		return err
	}
	sch, err := c.Compile("file:///asyncapi-spec.json")
	if err != nil {
		return err
	}
	return sch.Validate(d.raw)
}
