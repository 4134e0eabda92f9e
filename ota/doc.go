// Package ota is the device side of over-the-air model updates: it receives signed manifests and
// model chunks over MQTT, stores them durably, verifies the model, optionally runs it beside
// the active one (shadow mode), hands it to the agent between two frames, watches its first
// frames (health window) and commits it or rolls it back, surviving a restart at any point.
// The operator side is ota/operator.
//
// # Flow
//
//	operator (edge-agent model push)              device (Updater)
//	manifest, retained --------------------------> signature, target, version, size, disk   -> receiving
//	chunks, once, on the device or group topic --> stored in ota.db as they come
//	                       <---------------------- request for missing chunks (after a quiet RequestIdle,
//	chunks for that device <---------------------- then with backoff); push or `model serve` answers
//	                                               size, SHA-256, Validator                  -> verifying
//	                                               optional shadow run on live frames        -> shadow
//	                                               registry first, then Activator            -> activated
//	                                               HealthFrames frames within HealthTimeout  -> committed
//	                                               or the previous model back                -> rolled_back
//
// Every refusal is reported as rejected with the first check that failed (the Check constants,
// in the order they run: manifest, signature, target, version, size, disk, transfer, sha256,
// validate, shadow; then activate and health for a rollback), and leaves the running model and
// the model store as they were. A newer manifest replaces an update in progress (except a model
// in its health window, which finishes first), so a stuck update never blocks later ones; a
// transfer that receives nothing for StallTimeout while connected is refused ("transfer").
//
// # Topics
//
// See the table at DeviceTopic. A device subscribes to its own update topics and its groups'
// (Subscriptions, made on every connection by sync.Client); chunks come on the same topics as
// the manifest, so one subscription sees a manifest before its chunks.
//
// # Security
//
// Anyone who may publish on the update topics can write to them, so only the signature and the
// hashes are trusted. A manifest is ed25519-signed canonical JSON (see Manifest) naming the
// SHA-256 of the model and of each chunk: a chunk that does not match its hash is dropped and
// asked for again (three bad copies of one chunk refuse the update), so a forged chunk cannot
// corrupt a transfer. The keys are ota.trusted_keys (several, for rotation); with none OTA is
// off. A manifest older than the newest one handled is ignored (replays), an older model
// version is refused unless the manifest allows a rollback.
//
// # Files
//
//	<state_dir>/ota.db                  bbolt: registry (active, previous, update in progress) and the chunks
//	                                    of the transfer; separate from the outbox, so an update can neither
//	                                    corrupt it nor stall its commits; compacted after each transfer
//	<state_dir>/models/<sha256>.tflite  models installed by OTA: the active one and the previous one
//	<state_dir>/models/<sha256>.labels  their labels, when the manifest carries some
//	<state_dir>/models/registry.json    copy of the registry's models, written atomically after each change
//
// A transfer checks before it starts that the file system has twice the model's size free plus
// ReserveBytes (room kept for the outbox); a write that fails anyway (ENOSPC) refuses the update
// and deletes its chunks, giving the space back. An ota.db that cannot be read is moved aside
// (ota.db.damaged-<unix time>); the device then keeps the model registry.json names, if its file
// is intact, and otherwise the configured model.
//
// # Restarts
//
// Each step is recorded before it is taken and can be taken again, so a restart (kill -9, power
// loss) at any point comes back with exactly one active, intact model (Model) and resumes or
// concludes the update:
//
//	phase at restart  what Open and Run do
//	receiving         keep the stored chunks, ask for the missing ones
//	verifying         assemble and verify again (the chunks are kept until the candidate is recorded)
//	shadow            start the shadow run again
//	health            load the model on trial and start its window again; after HealthMaxRestarts
//	                  restarts in one window, roll it back before loading it (a model that crashes
//	                  the agent must not keep it in a restart loop)
//
// A model file that is missing or damaged at start, or that the agent cannot load (LoadFailed),
// gives way to the previous model, then to the configured one.
//
// # Integration
//
// The agent opens the Updater before it loads a model and loads Model() (calling LoadFailed
// until one loads); passes Subscriptions and OnConnect to sync.Config and the sync.Client to
// Run; implements Runtime (Validate, Activate) and optionally Shadower; calls FrameDone for every
// frame with the SHA-256 of the model that ran it; and merges StatusInfo into its device status.
// The Runtime's methods are called from Run's goroutine and must not call the Updater except
// FrameDone and ShadowFrame.
//
// # Caveats
//
//   - Manifests are ordered by their creation time, set by the operator's clock: operators on
//     machines with skewed clocks can see a push ignored as older.
//   - One previous model is kept; rolling back twice returns to the configured model.
//   - A health window counts frames, so a device whose camera delivers none rolls the model back
//     when the window times out.
//   - No delta updates: every update transfers the whole model (chunks already stored for the
//     same file are reused by a new manifest).
package ota
