package ota

// Hooks for the external tests (package ota_test).

// WithCrashHook returns c with a function called at each crash point of the updater.
func WithCrashHook(c Config, fn func(point string)) Config {
	c.crash = fn
	return c
}

// WhileLocked runs fn holding the updater's lock, which Run holds while it handles an event.
func WhileLocked(u *Updater, fn func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fn()
}

const CompactMin = compactMin

var FreeBytes = freeBytes
