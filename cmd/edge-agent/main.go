// Command edge-agent captures camera frames, runs a TensorFlow Lite model on them, stores every
// prediction durably and syncs it over MQTT. See the README for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: edge-agent <command> [flags]

commands:
  run            run the agent (capture -> infer -> store -> sync)
  infer          run a model on one image and print the result
  model inspect  print a model's inputs, outputs, quantization, ops and labels
  keygen         make an ed25519 key pair for signing model updates
  model push     sign a model and push it to devices or groups over MQTT, following each one
  model serve    serve model chunks to devices that resume or missed a push
  model status   list the devices' models and their last update
  model rollback return devices or groups to their previous model
  version        print the version

Run "edge-agent <command> -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "edge-agent:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks command-line mistakes and errConfig configuration mistakes; both exit with
// status 2, which the systemd unit's RestartPreventExitStatus=2 does not restart: retrying cannot
// fix them.
var (
	errUsage  = errors.New("usage")
	errConfig = errors.New("invalid configuration")
)

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, errUsage) || errors.Is(err, errConfig) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runAgent(ctx, rest, stdout, stderr)
	case "infer":
		return runInfer(ctx, rest, stdout, stderr)
	case "keygen":
		return runKeygen(ctx, rest, stdout, stderr)
	case "model":
		sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{"inspect": runModelInspect,
			"push": runModelPush, "serve": runModelServe, "status": runModelStatus, "rollback": runModelRollback}
		if len(rest) == 0 || sub[rest[0]] == nil {
			fmt.Fprint(stderr, usage)
			return fmt.Errorf("%w: model needs a subcommand (inspect, push, serve, status, rollback)", errUsage)
		}
		return sub[rest[0]](ctx, rest[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "edge-agent", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
