// Package store is the agent's durable state in one bbolt file: the outbox of records waiting to
// be published, the sequence counter and the agent's other persistent state.
//
// # The outbox
//
// Every prediction is appended to the outbox before anything else happens to it, and leaves it
// only when the broker has acknowledged it or when an explicit, counted bound drops it. Boards
// lose power and network; the outbox is what makes "exactly in order, at least once" hold
// across both (like AWS Greengrass stream manager and Azure IoT Edge, which persist before they
// acknowledge; unlike Frigate, which drops messages while offline).
//
//	db, err := store.Open("/var/lib/edge-agent/edge-agent.db", store.Options{})
//	...
//	seq, err := db.Append(ctx, func(seq uint64) ([]byte, error) {
//		rec.Seq = seq // the payload carries its own sequence number
//		return json.Marshal(rec)
//	})
//
// Append returns only after the record is committed and fsynced. Sequence numbers start at 1,
// grow by one per record, and are never reused: the counter is stored in the same transaction
// as the records it numbers, so a crash can lose neither without the other, and draining the
// outbox does not reset it.
//
// DB implements sync.Outbox: the publisher reads with Scan in sequence order, deletes what the
// broker acknowledged with Ack, and waits on Committed for new records.
//
// # Group commit
//
// One goroutine, the committer, owns all writes to the outbox. Appends and acks queue for it;
// it takes the first, waits up to Options.MaxCommitDelay (default 10 ms) for more or until
// Options.MaxBatch records (default 1024), and commits them all in one bbolt transaction with one
// fsync. Requests that arrive during a commit go into the next one. AppendBatch appends many
// records in one request; it is the fast path (see Performance).
//
// # Bounds and drops
//
// Options.MaxBytes (default 256 MiB), Options.MaxRecords (default 1,000,000) and
// Options.MaxAge (default off) bound the outbox. An append that would break a bound drops the
// oldest records in the same transaction; MaxAge also drops at every maintenance tick
// (Options.CompactInterval). Drops are counted per reason (DropMaxRecords, DropMaxBytes,
// DropMaxAge); the counters are stored in the file and reported by Stats. A record that alone
// exceeds MaxBytes is refused with ErrTooLarge.
//
// # Write errors
//
// A failed commit (ENOSPC on a full disk, EIO) is returned to every caller in it and recorded in
// Stats (LastError, LastErrorTime, Failing, CommitErrors). bbolt writes new pages first and the
// meta page last, so a failed commit changes nothing already committed; the store stays open
// and the next request tries again. Records in a failed commit are not stored and their
// sequence numbers go to the next records, since no stored record ever had them.
//
// # File layout
//
// One bbolt file with a bucket per concern:
//
//	meta      schema_version: 8-byte big-endian, checked by Open
//	outbox    8-byte big-endian seq -> 8-byte append time (Unix ns) + payload
//	counters  seq (last assigned), records, bytes, drops/<reason>
//	state     GetState/PutState: small key-value state (the agent does not use it yet)
//
// Beside it, <path>.seq holds the sequence high-water mark (below). Keys sort in sequence order. Open refuses a file written with a newer schema version
// (ErrSchemaVersion) and upgrades an older one through the migrations in the source, each in
// the same transaction as the version bump. Open fails with ErrLocked when another process has
// the file open for more than Options.LockTimeout (default 1 s), and with ErrCorrupt, naming the
// file, when it is not a readable bbolt file. None of these errors modify the file, unless the
// caller asks for recovery.
//
// # Recovery of a damaged file
//
// With Options.RecoverCorrupt, a file that fails with ErrCorrupt (with Options.VerifyOnOpen that
// includes a damaged page anywhere) is renamed to <path>.corrupt-<UTC time>, never deleted, and a
// fresh file takes its place; DB.Recovered says so, so that the agent can report it. A board whose
// SD card lost a page keeps working instead of stopping until someone logs in.
//
// # Sequence numbers after a recovery
//
// A device's sequence numbers must never repeat, not even after its database is lost. The store
// keeps a high-water mark outside the database, in <path>.seq: a number above every sequence
// number the database has issued, reserved a block of 2^20 at a time (written with fsync and
// rename before a commit would pass it, so it costs one more fsync per 2^20 records). A fresh
// file, after a recovery or after the database was deleted, starts above the mark. If the mark is
// lost too, the fresh file starts at the Unix time in seconds times 2^20: above every earlier
// number unless the store issued more than 2^20 records a second or the clock went back (a board
// without a real-time clock before NTP sync), and below 2^53, so JSON consumers keep it exact.
//
// # Compaction
//
// bbolt reuses freed pages but never shrinks its file. After a long offline period has been
// drained, the store rewrites the live data into path+".compact" with bbolt.Compact, syncs it,
// renames it over the file and syncs the directory. It does so at Open and every
// Options.CompactInterval when the file is at least Options.CompactMinWaste (default 64 MiB)
// larger and Options.CompactRatio (default 4) times larger than its live data. The new file is
// opened, and so locked, before the rename. A crash leaves the old or the new file whole; Open
// removes a stale copy.
//
// # Performance
//
// Every commit costs bbolt two fdatasyncs (the pages, then the meta page). Measured on the
// development VM (2 shared cores under a load of ~20, ~5 ms per fsync), ~300-byte records:
// AppendBatch of 256 records 20,000-23,000 records/s, of 1024 records about 65,000 records/s;
// 512 concurrent Append callers 8,000-11,000 records/s, 64 callers 2,400-3,000; a lone caller
// calling Append in a loop 90-140 records/s without commit delay and 40-50 with the default
// 10 ms. Run `go test -run '^$' -bench . ./store` for the figures on a board.
//
// # Caveats
//
//   - A lone caller of Append waits MaxCommitDelay plus one commit for every record. A pipeline
//     that must not stall should hand records to a goroutine that appends them with
//     AppendBatch, or set MaxCommitDelay negative (commit as soon as the previous commit is
//     done).
//   - If ctx ends while Append waits, the record may still be committed: withdrawn requests
//     (the error says "withdrawn") are not; a request already in a transaction may be. Either
//     way no sequence number is reused.
//   - build runs on the committer goroutine inside the write transaction: it must be quick and
//     must not call the DB. Its panic is raised again in the caller of Append.
//   - Scan holds a read transaction while it calls fn. fn must be quick, must copy the payload
//     to keep it, and must not call Append, Ack, PutState or DeleteState: a commit that grows
//     the file waits for read transactions to end, and compaction waits for Scan.
//   - Ack deletes only; it does not move the publisher's position. Records dropped by the
//     bounds while in flight are simply not found by the later Ack.
//   - Compaction stops appends, acks and reads for as long as copying the live data takes
//     (it runs only when the live data is at most 1/CompactRatio of the file) and needs free
//     space for that copy; when it fails, the old file stays in use and the error is in Stats.
//   - bbolt maps the whole file into memory. On 32-bit ARM a mapping is limited to 2 GiB and
//     must fit in a 3 GiB address space next to OpenCV and the model, so keep MaxBytes at the
//     default or lower there. The file can be about twice MaxBytes (page overhead and free
//     pages), and the mapping is rounded up to the next power of two up to 1 GiB.
//   - Stats.Bytes counts payloads plus 16 bytes per record; the file is larger. Only the bounds
//     limit the file: a full disk is reported, never handled by dropping records.
//   - Durability depends on the disk honouring fsync. SD cards that acknowledge writes before
//     they are stable can lose the last commits on power loss; bbolt's two meta pages still
//     keep the file consistent.
//   - VerifyOnOpen reads the whole file. Without it, damage below the meta pages is found when
//     a transaction reaches it: bbolt panics or faults on the mapping (the store's goroutines
//     run with debug.SetPanicOnFault), and the store returns ErrCorrupt instead of crashing.
//     Damage that bbolt reads as plausible data is not detected: bbolt has no checksums on
//     data pages.
package store
