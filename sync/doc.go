// Package sync publishes the outbox to an MQTT broker in sequence order, at least once, and
// receives commands. It knows topics and payload encodings, not what a prediction means.
//
// A Client (New, then Run) speaks MQTT 3.1.1 through paho. Every connection is a clean session:
// the Outbox, not paho's store, holds what the broker has not acknowledged, so a power cut loses
// nothing, and each new connection publishes again from the oldest record left in the outbox. A
// record is deleted (Outbox.Ack) only after its PUBACK. The consumer therefore sees sequence
// numbers in non-decreasing order of first appearance; a duplicate always repeats a seq it has
// seen. At most Config.InFlight records are unacknowledged at once.
//
// # Topics
//
// All payloads are JSON objects with "v":1. <prefix> is Config.TopicPrefix ("edge"), <device>
// is Config.DeviceID.
//
//	topic                          dir  QoS  retained  payload
//	<prefix>/<device>/predictions  out  1    no        outbox records as stored (they carry device, seq, "v")
//	<prefix>/<device>/status       out  1    yes       {"v":1,"state":"online","device","agent_version","model",
//	                                                   "uptime_s","backlog","drops":{reason:n},"ts","connected_since",
//	                                                   "sync":{"published","acked","reconnects","last_error"}, extra...}
//	                                                   on connect and every StatusInterval;
//	                                                   {"v":1,"state":"offline","device","agent_version","reason"}
//	                                                   with reason "shutdown" on clean exit, "lost" as the LWT
//	<prefix>/<device>/events       out  1    no        {"v":1,"device","kind","ts","fields":{...}}; kinds: "cmd_ack"
//	                                                   {name,id,ok,error}, "warning" {warning,error}, and the agent's own
//	                                                   (camera state changes...) through PublishEvent; best-effort
//	<prefix>/<device>/cmd/<name>   in   1    -         {"v":1,"id":"...",...}: passed to Config.OnCommand
//	<prefix>/<device>/snapshot     out  1    no        what the agent publishes there with Publish (JPEG snapshots)
//
// Other parts of the agent receive on topics of their own through Config.Subscriptions (made
// again on every connection, each served by its own goroutine and bounded queue) and publish
// best-effort messages with Publish; Config.OnConnect runs after each connection is made.
//
// A command that is malformed (not a JSON object, no "v":1, "id" not a string, over
// MaxCommandSize) is not handled but still answered with a cmd_ack carrying the reason, and
// logged (rate-limited). Retained commands are ignored (they would run again on every reconnect),
// as are messages on unknown topics.
//
// # Denied topics
//
// MQTT 3.1.1 gives a broker no way to refuse a publish: mosquitto 2.0 answers a publish its ACL
// denies with an ordinary PUBACK and drops the message, so acknowledging on PUBACK alone would
// empty the outbox into nothing. The Client therefore subscribes to its own predictions topic on
// each connection and publishes the first record alone, and checks that it comes back. After the
// check passes the subscription is dropped, so normal traffic is not echoed. If the record is
// acknowledged but does not come back within Config.VerifyTimeout, the Client reports
// ErrPublishDenied: error log, "warning" event, status sync.last_error, Stats.PublishDenied.
// Then, by Config.Verify:
//
//   - "hold" (default): the record is kept, the Client disconnects and retries with backoff, so
//     nothing is lost while the ACL is wrong. The device's ACL must let it read its own
//     predictions topic (mosquitto: "pattern readwrite edge/%u/#"); with a write-only ACL the
//     check cannot tell and would hold forever, loudly.
//   - "warn": the report is made and publishing goes on (a denied topic then loses records).
//   - "off": no check.
//
// A denied SUBSCRIBE (SUBACK 0x80, as mosquitto's dynamic-security plugin answers; its acl_file
// grants every SUBSCRIBE and filters on delivery) is reported as ErrSubscribeDenied the same
// way; a denied subscription to the predictions topic turns the check off with a warning.
//
// # Failures and reconnection
//
// Run reconnects after any failure with a capped exponential backoff with jitter
// (Config.Backoff), logging each failure with its cause; Stats and State show the connection
// state and the last error. WaitConnected returns the first failure that retrying cannot fix
// (ErrTLS: untrusted broker certificate, client certificate missing or rejected;
// ErrNotAuthorized: bad credentials) so the agent can show it at startup.
//
// # Several brokers
//
// Config.Brokers lists brokers in order of preference: the nodes of a clustered broker (NATS,
// EMQX, VerneMQ, HiveMQ), where every node serves every topic. The Client is connected to one
// at a time. It starts with the first; after any failure (a refused or timed-out CONNECT, a
// lost connection, a denied publish) the next attempt goes to the next broker of the list,
// round and round, after the backoff delay, which grows once per round through the list, so
// each broker sees the retry rate a single broker would. It stays on a broker that works: there
// is no return to the first while the one in use serves (a planned move would cost a reconnect,
// a new delivery check and resends for nothing on a cluster); a restart of the agent starts
// again from the first. To spread a fleet over the nodes, give devices the list in different
// orders. Each connection is a new clean session, and every rule above holds across brokers:
// the outbox is the only queue, each connection resends from the oldest record not yet
// acknowledged and checks delivery again. Stats.Broker, the status payload's sync.broker and
// the log ("connected to another broker (failover)") say which broker is in use. WaitConnected
// reports a failure retrying cannot fix only once every broker of the list has given one.
//
// The will is the node's to publish. On NATS 2.9 (checked by internal/natstest): when a device's
// connection dies while its node lives, the node publishes the will; when the node itself dies,
// nobody does, then or after the node restarts (the will lives in that node's memory; the
// session record in JetStream stays until the client id connects again, anywhere). The
// retained status then says "online" until the device, failed over, publishes it again from the
// new node. A dashboard that must notice a device lost together with its node judges by the
// status's age ("ts" older than two status intervals) rather than by the will alone.
//
// NATS handles a client's packets in order and waits for JetStream on a CONNECT (the session
// record), a QoS 1 PUBLISH (stored before its PUBACK) and a retained one; while a stream has no
// leader after a node loss it closes the connection after its 4 s request timeout, and the
// Client moves on. A PINGREQ queued behind such a packet waits as long, so with NATS keep the
// keepalive at 5 s or more (the ping timeout is min(10 s, keepalive)).
//
// # Goroutines
//
// Run owns every goroutine it starts and returns after all have stopped. For its whole life it
// runs the command worker (Config.OnCommand, one command at a time). For each connection it runs
// the publish loop (scan the outbox, publish within the window), the PUBACK loop (wait for
// acknowledgements in publish order, free window slots), the delete loop (Outbox.Ack in batches,
// so the disk's fsync does not stall the window) and the status ticker; all four stop before the
// next connection is attempted. paho's handlers only queue without blocking.
//
// # Caveats
//
//   - When the broker lets the device publish its predictions but not subscribe to them, the
//     delivery check is impossible; a warning is logged on each connection and a denied publish
//     would go unnoticed.
//   - Records are deleted from the outbox in batches after their PUBACKs; a crash between the two
//     resends them (same seq).
//   - A record the broker refuses by closing the connection (larger than its max_packet_size)
//     is sent again on every reconnect and blocks the ones after it; keep records far below the
//     broker's limit (the store's records are a few hundred bytes).
//   - StartEmbeddedBroker is for `make run` and demos: it allows anonymous access and listens on
//     loopback only.
package sync
