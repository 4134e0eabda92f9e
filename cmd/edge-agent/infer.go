package main

import (
	"context"
	"errors"
	"io"
)

func runInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("infer: not implemented yet")
}

func runModelInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("model inspect: not implemented yet")
}
