package ota

import "strings"

const (
	topicManifest = "manifest"
	topicChunk    = "chunk"
)

// Topics of OTA under a prefix (Config.TopicPrefix, "edge" by default). Operators write the
// <prefix>/ota/... topics and devices only read them; each device writes only topics under
// <prefix>/<device>/ (deploy-arm/mosquitto-ota.acl is an ACL that enforces this). All are QoS 1.
//
//	topic                                  writer    retained  payload
//	<prefix>/ota/device/<device>/manifest  operator  yes       signed envelope (update or rollback) for one device
//	<prefix>/ota/group/<group>/manifest    operator  yes       signed envelope for a group
//	<prefix>/ota/device/<device>/chunk     operator  no        chunk messages: the push's broadcast to one device,
//	                                                           and every answer to that device's requests
//	<prefix>/ota/group/<group>/chunk       operator  no        chunk messages: the push's broadcast to a group
//	<prefix>/<device>/model/req            device    no        chunk request (JSON, see Request)
//	<prefix>/<device>/model/status         device    yes       Status (JSON)
//
// Chunk servers (`edge-agent model serve`) subscribe to $share/<name>/<prefix>/+/model/req, so
// each request reaches one of them; a running push subscribes to <prefix>/+/model/req and
// answers for its own model.
//
// DeviceTopic returns <prefix>/ota/device/<device>/<leaf>; leaf is "manifest" or "chunk".
func DeviceTopic(prefix, device, leaf string) string {
	return prefix + "/ota/device/" + device + "/" + leaf
}

// GroupTopic returns <prefix>/ota/group/<group>/<leaf>.
func GroupTopic(prefix, group, leaf string) string {
	return prefix + "/ota/group/" + group + "/" + leaf
}

// StatusTopic returns <prefix>/<device>/model/status.
func StatusTopic(prefix, device string) string { return prefix + "/" + device + "/model/status" }

// RequestTopic returns <prefix>/<device>/model/req.
func RequestTopic(prefix, device string) string { return prefix + "/" + device + "/model/req" }

// StatusFilter and RequestFilter match every device's status and request topics.
func StatusFilter(prefix string) string  { return prefix + "/+/model/status" }
func RequestFilter(prefix string) string { return prefix + "/+/model/req" }

// DeviceOf returns the device level of a <prefix>/<device>/model/<leaf> topic.
func DeviceOf(prefix, topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return "", false
	}
	dev, leaf, ok := strings.Cut(rest, "/model/")
	if !ok || !ValidName(dev) || strings.Contains(leaf, "/") {
		return "", false
	}
	return dev, true
}
