package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/edge-agent/edge-agent/ota"
)

// errStopping is the answer to work that arrives while the agent stops.
var errStopping = errors.New("the agent is stopping")

// watchReload reloads the configuration on every reload signal until ctx ends.
func (a *agent) watchReload(ctx context.Context) {
	if a.opts.Reload == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.opts.Reload:
			_ = a.reload(ctx) // logged
		}
	}
}

// reload loads the configuration and runs the start-up checks on it (Check), off the capture
// loop, then has the capture loop apply it between two frames. It returns an error if the new
// configuration was rejected or part of it could not be applied; the agent then keeps what it
// had.
func (a *agent) reload(ctx context.Context) error {
	if a.opts.Load == nil {
		return errors.New("reload: this agent has no configuration source to reload")
	}
	notify(a.log, daemon.SdNotifyReloading)
	defer notify(a.log, daemon.SdNotifyReady)
	cfg, err := a.opts.Load()
	file := cfg.Model // as configured, before the updater's model is put in its place
	var p *prepared
	saw := "" // the model running when this reload looked
	if err == nil {
		if a.ota != nil {
			cfg, saw = a.otaModel(cfg)
		}
		// The running model's runtime choice is reused when the model stays the same, so a
		// reload does not measure the runtimes beside the running pipeline.
		if p, err = prepareChoice(cfg, a.runtime.Load()); err == nil {
			p.sawModel = saw
		}
	}
	if err != nil {
		a.log.Error("reload: configuration rejected, keeping the current one", "err", err)
		return fmt.Errorf("configuration rejected, keeping the current one: %w", err)
	}
	reply := make(chan error, 1)
	var newBase bool // the configured model runs, and the reload changed which one it is
	a.betweenFrames(func(running bool) {
		if !running {
			p.close()
			reply <- errStopping
			return
		}
		was := a.cfg.Model.Path
		err := a.apply(ctx, cfg, p)
		newBase = a.ota != nil && a.cfg.Model.Path == file.Path && was != file.Path
		reply <- err
	})
	err = <-reply // betweenFrames always answers
	if a.ota != nil && !errors.Is(err, errStopping) {
		a.otaRT.setSettings(file)
		if newBase {
			a.ota.Rebase(ota.Model{Name: file.Name, Version: file.Version, Path: file.Path, LabelsPath: file.Labels})
		}
	}
	return err
}

// apply applies a checked configuration on the capture loop: log level, snapshots and
// thresholds at once; a changed camera is started first and swapped in only if it opens; a
// changed model (loaded by prepare) replaces the running one. Device, store and MQTT changes need
// a restart. apply owns p.
func (a *agent) apply(ctx context.Context, next Config, p *prepared) error {
	old := a.cfg
	if a.opts.LogLevel != nil {
		a.opts.LogLevel.Set(parseLevel(next.Log.Level))
	}
	applied := []string{"log", "snapshot", "model.top_k", "model.score_threshold"}
	a.cfg.Log, a.cfg.Snapshot, a.cfg.origin = next.Log, next.Snapshot, next.origin
	var errs []error

	oldCam, newCam := old.Camera, next.Camera
	// The health checks' settings belong to the detector (applyMotion): the source runs on.
	oldCam.FrozenAfter, oldCam.BlankAfter = newCam.FrozenAfter, newCam.BlankAfter
	switch {
	case reflect.DeepEqual(oldCam, newCam):
	case onlyFPS(oldCam, newCam):
		if err := a.src.SetMaxFPS(newCam.MaxFPS); err != nil {
			errs = append(errs, err)
		} else {
			a.cfg.Camera.MaxFPS = newCam.MaxFPS
			applied = append(applied, "camera.max_fps")
		}
	default:
		src, err := a.openCamera(ctx, p.camera)
		if err != nil {
			a.log.Error("reload: new camera source failed, keeping the current one", "err", err)
			errs = append(errs, fmt.Errorf("camera.source: %w (keeping the current one)", err))
			break
		}
		a.swapSource(src)
		a.cfg.Camera = newCam
		applied = append(applied, "camera")
	}
	applied = append(applied, a.applyMotion(old, next, p)...)

	oldModel, newModel := old.Model, next.Model
	oldModel.TopK, oldModel.ScoreThreshold = newModel.TopK, newModel.ScoreThreshold
	if a.ota != nil && old.Model.Path != p.sawModel {
		// An update swapped the model after the reload read which one runs: keep it.
		a.log.Warn("reload: a model update was activated meanwhile; keeping it (model settings apply at the next reload)")
		p.close()
		next.Model = old.Model
	} else if reflect.DeepEqual(oldModel, newModel) {
		p.close() // the running model is the same
	} else {
		a.model.close()
		a.model = p.model
		a.modelRef.Store(&a.model.ref)
		applied = append(applied, "model")
		a.log.Info("model replaced", "path", next.Model.Path, "task", a.model.dec.Task, "sha256", a.model.ref.SHA256,
			"runtime", a.model.choice)
		a.logChoice(a.model)
	}
	a.cfg.Model = next.Model
	a.model.setThresholds(next.Model.TopK, next.Model.ScoreThreshold)
	a.modelChanged()

	var restart []string
	for _, s := range []struct {
		name     string
		old, new any
	}{{"device", old.Device, next.Device}, {"store", old.Store, next.Store}, {"mqtt", old.MQTT, next.MQTT}, {"state_dir", old.StateDir, next.StateDir},
		{"http", old.HTTP, next.HTTP}, {"ha", old.HA, next.HA}} {
		if !reflect.DeepEqual(s.old, s.new) {
			restart = append(restart, s.name)
		}
	}
	a.log.Info("configuration reloaded", "applied", applied)
	if len(restart) > 0 {
		a.log.Warn("reload: these settings changed but take effect only after a restart", "sections", restart)
	}
	return errors.Join(errs...)
}

// otaModel makes the reloaded configuration run the model the updater names, with the reloaded
// settings (task, fit, normalisation, threads, thresholds). While the configured model runs, a
// reload may change it as before (the updater is told afterwards, Rebase); while a model
// installed by an update runs, a new model.path, labels, name or version waits for that model to
// be rolled back, or for a restart.
func (a *agent) otaModel(cfg Config) (Config, string) {
	f, was, running := cfg.Model, a.otaRT.settings(), a.ota.Model()
	if running.Path == was.Path {
		return cfg, running.Path
	}
	if f.Path != was.Path || f.Labels != was.Labels || f.Name != was.Name || f.Version != was.Version {
		a.log.Warn("reload: a model installed by an update runs; the new model.path, labels, name and version apply once it is rolled back, or at the next start",
			"running", running.Name, "version", running.Version)
	}
	cfg.Model = withModel(f, running)
	return cfg, running.Path
}

// onlyFPS reports whether two camera configurations differ in max_fps alone, which the running
// source can change without being reopened (a file would start over).
func onlyFPS(a, b CameraConfig) bool {
	a.MaxFPS = b.MaxFPS
	return a == b
}
