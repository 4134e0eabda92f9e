package store

import (
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// maxStateKey bounds state keys (bbolt allows 32 KiB).
const maxStateKey = 1024

// GetState returns a copy of the value stored under key by PutState, or an error wrapping
// ErrNotFound.
func (db *DB) GetState(key string) (_ []byte, err error) {
	if err := checkStateKey(key); err != nil {
		return nil, err
	}
	var val []byte
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			val, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
		}
	}()
	err = db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: state %q", ErrNotFound, key)
		}
		val = append([]byte{}, v...)
		return nil
	})
	return val, err
}

// PutState stores value under key durably (its own transaction and fsync). It is for the
// agent's small persistent state: OTA progress, the model registry, and the like.
func (db *DB) PutState(key string, value []byte) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte(key), value)
	})
}

// DeleteState removes key; removing a missing key is not an error.
func (db *DB) DeleteState(key string) error {
	if err := checkStateKey(key); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Delete([]byte(key))
	})
}

func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.closed || db.bdb == nil {
		return ErrClosed
	}
	if err := db.bdb.Update(fn); err != nil {
		err = fmt.Errorf("store: write state to %s: %w", db.path, err)
		db.noteError(err, false)
		return err
	}
	return nil
}

func checkStateKey(key string) error {
	if key == "" {
		return fmt.Errorf("store: empty state key")
	}
	if len(key) > maxStateKey {
		return fmt.Errorf("%w: state key of %d bytes, the limit is %d", ErrTooLarge, len(key), maxStateKey)
	}
	return nil
}
