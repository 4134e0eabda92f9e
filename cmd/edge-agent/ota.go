package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// Exit statuses of push and rollback, besides 0 (every device ended as wanted), 1 (an error)
// and 2 (usage).
const (
	exitFailed  = 3 // a device rejected the update, rolled it back, or has OTA off
	exitTimeout = 4 // a device did not conclude within --timeout (or none was found)
)

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// runKeygen is `edge-agent keygen`.
func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "`directory` for signing.key (private, mode 0600) and signing.pub")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 || *out == "" {
		return fmt.Errorf("%w: keygen needs --out DIR and no arguments", errUsage)
	}
	pub, err := ota.GenerateKey(*out)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(filepath.Join(*out, "signing.pub"))
	fmt.Fprintf(stdout, "key %s\n  private: %s (keep it secret; push and rollback sign with it)\n  public:  %s\n\n",
		pub.ID, filepath.Join(*out, "signing.key"), filepath.Join(*out, "signing.pub"))
	fmt.Fprintf(stdout, "Trust it on the devices (edge-agent.yaml), by file or inline:\n\nota:\n  trusted_keys:\n    - %s\n    # or: - %s\n", pub.Inline(), abs)
	return nil
}

// brokerFlags are the connection flags of the operator commands.
type brokerFlags struct {
	url, username, passwordFile, ca, cert, key, prefix string
	insecure                                           bool
}

func addBrokerFlags(fs *flag.FlagSet) *brokerFlags {
	b := &brokerFlags{}
	fs.StringVar(&b.url, "broker", "", "broker `URL`: tcp://, ssl://, ws:// or wss:// (required)")
	fs.StringVar(&b.username, "username", "", "MQTT `user` name")
	fs.StringVar(&b.passwordFile, "password-file", "", "`file` holding the MQTT password (or set $EDGE_AGENT_MQTT_PASSWORD)")
	fs.StringVar(&b.ca, "ca-file", "", "PEM `file` of the CAs that sign the broker's certificate")
	fs.StringVar(&b.cert, "tls-cert", "", "client certificate `file` for mutual TLS")
	fs.StringVar(&b.key, "tls-key", "", "client key `file` for mutual TLS")
	fs.BoolVar(&b.insecure, "insecure-skip-verify", false, "do not verify the broker's certificate (tests only)")
	fs.StringVar(&b.prefix, "topic-prefix", ota.DefaultTopicPrefix, "topic `prefix` of the fleet (the devices' mqtt.topic_prefix)")
	return b
}

func (b *brokerFlags) dial(ctx context.Context) (*operator.Conn, error) {
	if b.url == "" {
		return nil, fmt.Errorf("%w: --broker is required", errUsage)
	}
	pw := os.Getenv("EDGE_AGENT_MQTT_PASSWORD")
	if b.passwordFile != "" {
		p, err := os.ReadFile(b.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		pw = strings.TrimSpace(string(p))
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return operator.Dial(dctx, operator.Broker{URL: b.url, Username: b.username, Password: pw, CAFile: b.ca,
		CertFile: b.cert, KeyFile: b.key, InsecureSkipVerify: b.insecure})
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	if !ota.ValidName(s) {
		return fmt.Errorf("%q is not a device id or group name (1-64 of A-Z a-z 0-9 _ . -)", s)
	}
	*l = append(*l, s)
	return nil
}

// parseInterspersed parses flags that may come after positional arguments, as in
// `model push --key k MODEL.tflite --group lobby`.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// runModelPush is `edge-agent model push`.
func runModelPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := addBrokerFlags(fs)
	keyPath := fs.String("key", "", "signing key `file` (from edge-agent keygen)")
	var devices, groups listFlag
	fs.Var(&devices, "device", "target device `id` (repeatable)")
	fs.Var(&groups, "group", "target group `name` (repeatable; the devices' device.groups)")
	labels := fs.String("labels", "", "label `file` shipped with the model (one label per line)")
	name := fs.String("name", "", "model `name` in records and statuses (default: the file name)")
	version := fs.String("version", "", "model `version`, e.g. 1.4.0 (default: the UTC time, YYYYMMDD.HHMMSS)")
	rollback := fs.Bool("rollback", false, "allow devices to install an older version than theirs")
	shadow := fs.Int("shadow", 0, "run the new model beside the active one on `N` live frames before activating it")
	minAgree := fs.Int("min-agreement", 90, "shadow: least agreement in `percent` with the active model")
	maxLatency := fs.Int("max-latency-ms", 0, "shadow: highest 95th percentile inference time in `ms` (0: no bound)")
	healthFrames := fs.Int("health-frames", 0, "frames the model must infer to be committed (0: the device's ota.health_frames)")
	healthTimeout := fs.Duration("health-timeout", 0, "time it has for them (0: the device's ota.health_timeout)")
	chunkSize := fs.Int("chunk-size", ota.DefaultChunkSize, "bytes per chunk message")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to follow the devices")
	noWait := fs.Bool("no-wait", false, "publish and exit without following the devices")
	force := fs.Bool("force", false, "push even a model this build's runtime cannot load")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case len(pos) != 1:
		return fmt.Errorf("%w: model push needs one MODEL.tflite argument", errUsage)
	case *keyPath == "":
		return fmt.Errorf("%w: model push needs --key (make one with edge-agent keygen)", errUsage)
	case len(devices)+len(groups) == 0:
		return fmt.Errorf("%w: model push needs at least one --device or --group", errUsage)
	case *shadow < 0 || *minAgree < 0 || *minAgree > 100 || *maxLatency < 0 || *healthFrames < 0 || *healthTimeout < 0:
		return fmt.Errorf("%w: --shadow, --min-agreement (0-100), --max-latency-ms and --health-* must not be negative", errUsage)
	case *healthTimeout%time.Second != 0:
		return fmt.Errorf("%w: --health-timeout is counted in whole seconds", errUsage)
	}
	path := pos[0]
	priv, err := ota.LoadSigningKey(*keyPath)
	if err != nil {
		return err
	}
	model, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := checkModel(model); err != nil && !*force {
		return fmt.Errorf("%s: %w (--force pushes it anyway; the devices will refuse it)", path, err)
	}
	o := ota.UpdateOptions{Name: *name, Version: *version, Target: ota.Target{Devices: devices, Groups: groups},
		ChunkSize: *chunkSize, Rollback: *rollback}
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if o.Version == "" {
		o.Version = time.Now().UTC().Format("20060102.150405")
	}
	if *labels != "" {
		l, err := vision.LoadLabels(*labels)
		if err != nil {
			return err
		}
		o.Labels = l
	}
	if *shadow > 0 {
		o.Shadow = &ota.ShadowSpec{Frames: *shadow, MinAgreementPct: *minAgree, MaxLatencyMS: *maxLatency}
	}
	if *healthFrames > 0 || *healthTimeout > 0 {
		o.Health = &ota.HealthSpec{Frames: *healthFrames, TimeoutS: int(*healthTimeout / time.Second)}
	}
	m, env, err := operator.SignUpdate(model, priv, o)
	if err != nil {
		return err
	}
	conn, err := bf.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(stdout, "pushing %s %s (%s, %d bytes in %d chunks), manifest %s, signed by key %s\n",
		m.Name, m.Version, m.SHA256[:12], m.Size, m.ChunkCount, m.ID, m.KeyID)
	wait := *timeout
	if *noWait {
		wait = 0
	}
	p := newProgress(stdout)
	res, err := operator.Push(ctx, conn, operator.PushOptions{Prefix: bf.prefix, Model: model, Envelope: env, Wait: wait, Progress: p.update})
	if err != nil {
		return err
	}
	if *noWait {
		fmt.Fprintln(stdout, "published; follow with: edge-agent model status")
		return nil
	}
	p.final(res.Devices)
	return outcome(res, "push")
}

// checkModel refuses what this build's runtime cannot run, before the fleet downloads it.
func checkModel(b []byte) error {
	m, err := tflite.Load(b)
	if err != nil {
		return err
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(1))
	if err != nil {
		return err
	}
	ip.Close()
	return nil
}

// outcome turns a result into the command's error and exit status.
func outcome(res operator.Result, what string) error {
	var failed, pending []string
	for _, d := range res.Devices {
		switch {
		case !d.Done():
			pending = append(pending, d.Device)
		case !d.OK(res.Manifest.Kind):
			failed = append(failed, d.Device)
		}
	}
	switch res.Outcome() {
	case "ok":
		return nil
	case "none":
		return &exitError{exitTimeout, what + ": no targeted device reported (is any online, and in the group?)"}
	case "failed":
		return &exitError{exitFailed, fmt.Sprintf("%s: failed on %s", what, strings.Join(failed, ", "))}
	}
	return &exitError{exitTimeout, fmt.Sprintf("%s: no outcome within --timeout from %s (offline devices catch up later from edge-agent model serve)",
		what, strings.Join(pending, ", "))}
}

// progress prints the devices' progress: redrawn lines with progress bars on a terminal, one
// plain line per change otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	lines int               // lines drawn last time (tty)
	last  map[string]string // device -> last line printed (plain)
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, last: map[string]string{}}
}

func (p *progress) update(rs []operator.Report) {
	if p.tty {
		if p.lines > 0 {
			fmt.Fprintf(p.w, "\x1b[%dA", p.lines)
		}
		for _, r := range rs {
			fmt.Fprintf(p.w, "\x1b[2K%s\n", line(r, true))
		}
		p.lines = len(rs)
		return
	}
	for _, r := range rs {
		l := line(r, false)
		if p.last[r.Device] != l {
			p.last[r.Device] = l
			fmt.Fprintln(p.w, l)
		}
	}
}

func (p *progress) final(rs []operator.Report) {
	p.update(rs)
}

// line describes one device: state, then a progress bar (terminal) or percentage, or the
// reason of a rejection.
func line(r operator.Report, bar bool) string {
	s := r.Status
	if !r.Seen {
		return fmt.Sprintf("%-20s %-12s", r.Device, "waiting")
	}
	out := fmt.Sprintf("%-20s %-12s", r.Device, s.State)
	switch {
	case s.Progress != nil && s.State == ota.StateReceiving:
		pct := 0
		if s.Progress.Size > 0 {
			pct = int(s.Progress.Bytes * 100 / s.Progress.Size)
		}
		if bar {
			n := pct / 5
			out += " [" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "]"
		}
		out += fmt.Sprintf(" %3d%% %s/%s", pct, mb(s.Progress.Bytes), mb(s.Progress.Size))
		if !bar {
			// Plain output changes only every 10%, to keep logs short.
			out = fmt.Sprintf("%-20s %-12s %3d%%", r.Device, s.State, pct/10*10)
		}
	case s.Shadow != nil && s.State == ota.StateShadow:
		out += fmt.Sprintf(" %d/%d frames, agreement %.1f%%", s.Shadow.Frames, s.Shadow.Of, s.Shadow.AgreementPct)
	case s.Health != nil && s.State == ota.StateActivated:
		out += fmt.Sprintf(" health %d/%d frames", s.Health.Frames, s.Health.Of)
	case s.Reason != "":
		out += " " + s.Reason
	case s.Active != nil && s.State == ota.StateCommitted:
		out += fmt.Sprintf(" %s %s", s.Active.Name, s.Active.Version)
	}
	return out
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// runModelServe is `edge-agent model serve`.
func runModelServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := addBrokerFlags(fs)
	dir := fs.String("dir", "", "`directory` of model files to serve (found by their SHA-256; rescanned for new ones)")
	share := fs.String("share", "edge-agent-serve", "shared subscription `name`: instances with the same name split the requests")
	workers := fs.Int("workers", 4, "requests answered in parallel")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 || *dir == "" || *workers < 1 {
		return fmt.Errorf("%w: model serve needs --dir DIR (and --workers >= 1), no arguments", errUsage)
	}
	conn, err := bf.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := operator.NewServer(conn, operator.ServerOptions{Prefix: bf.prefix, Dir: *dir, Share: *share, Workers: *workers, Logger: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %d models from %s on $share/%s/%s\n", srv.Stats().Models, *dir, *share, ota.RequestFilter(bf.prefix))
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var last operator.ServerStats
	for {
		select {
		case err := <-done:
			st := srv.Stats()
			fmt.Fprintf(stdout, "stopped: %d requests, %d chunks sent, %d for unknown models, %d dropped\n", st.Requests, st.Served, st.Unknown, st.Dropped)
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case <-t.C:
			if st := srv.Stats(); st != last {
				log.Info("serving", "requests", st.Requests, "chunks", st.Served, "unknown", st.Unknown, "dropped", st.Dropped, "models", st.Models)
				last = st
			}
		}
	}
}

// runModelStatus is `edge-agent model status`.
func runModelStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := addBrokerFlags(fs)
	group := fs.String("group", "", "only the devices of this `group`")
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 5*time.Second, "longest wait for the retained statuses")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	conn, err := bf.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := operator.Collect(ctx, conn, bf.prefix, *group, *wait)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []operator.Row{}
		}
		return json.NewEncoder(stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tCONNECTION\tMODEL\tVERSION\tSHA256\tLAST UPDATE\tREASON\tLAST SEEN")
	for _, r := range rows {
		name, ver, sha := "-", "-", "-"
		if r.Active != nil {
			name, ver, sha = orDash(r.Active.Name), orDash(r.Active.Version), r.Active.SHA256
			if len(sha) > 12 {
				sha = sha[:12]
			}
		}
		seen := "-"
		if !r.LastSeen.IsZero() {
			seen = r.LastSeen.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Device, orDash(r.Online), name, ver, sha, orDash(r.State), orDash(r.Reason), seen)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(stderr, "no device has published a model status")
	}
	return nil
}

// runModelRollback is `edge-agent model rollback`.
func runModelRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := addBrokerFlags(fs)
	keyPath := fs.String("key", "", "signing key `file`")
	var devices, groups listFlag
	fs.Var(&devices, "device", "target device `id` (repeatable)")
	fs.Var(&groups, "group", "target group `name` (repeatable)")
	from := fs.String("from-sha256", "", "roll back only devices running this model (default: the model of the update retained on the target's topics)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to follow the devices")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case *keyPath == "":
		return fmt.Errorf("%w: model rollback needs --key", errUsage)
	case len(devices)+len(groups) == 0:
		return fmt.Errorf("%w: model rollback needs at least one --device or --group", errUsage)
	}
	priv, err := ota.LoadSigningKey(*keyPath)
	if err != nil {
		return err
	}
	conn, err := bf.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	p := newProgress(stdout)
	res, err := operator.Rollback(ctx, conn, operator.RollbackOptions{Prefix: bf.prefix, Key: priv,
		Target: ota.Target{Devices: devices, Groups: groups}, FromSHA256: *from, Wait: *timeout, Progress: p.update})
	if err != nil {
		return err
	}
	p.final(res.Devices)
	return outcome(res, "rollback")
}
