package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// CPR numbers (and passphrases) never come as flags, where they would end
// up in 'ps' and in shell history: they are read from a file, from
// standard input, or from a prompt on the terminal (DESIGN.md, outside
// contract).

// maxPrivateInput bounds a CPR number or passphrase read from a file.
const maxPrivateInput = 1024

// readPrivate reads one line: from the file at path, or with path "-"
// from standard input (cmd's, or the process's when cmd is nil),
// prompting with echo off when that is a terminal.
func readPrivate(cmd *cobra.Command, path, what string) (string, error) {
	var r io.Reader
	var in io.Reader = os.Stdin
	var prompt io.Writer = os.Stderr
	if cmd != nil {
		in, prompt = cmd.InOrStdin(), cmd.ErrOrStderr()
	}
	if path == "-" {
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(prompt, "%s: ", what)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			if err != nil {
				return "", fmt.Errorf("reading the %s from the terminal: %w", what, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		r = in
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", usagef("reading the %s: %v", what, err)
		}
		defer f.Close()
		r = f
	}
	line, err := readLine(r)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	v := strings.TrimSpace(line)
	if v == "" {
		return "", usagef("no %s given: write it to standard input (or the file) on one line", what)
	}
	return v, nil
}

// readLine reads up to the first newline, a byte at a time, so that what
// follows stays in r for the next read (a CPR number, then a passphrase,
// on one standard input).
func readLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < maxPrivateInput {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return string(line), nil
}

// refuseCPRFlag registers --cpr only to refuse it with the way to do it.
func refuseCPRFlag(cmd *cobra.Command) *string {
	var v string
	cmd.Flags().StringVar(&v, "cpr", "", "refused: CPR numbers are read from --cpr-file or standard input, never from a flag")
	_ = cmd.Flags().MarkHidden("cpr")
	return &v
}

// errCPRFlag is the refusal of a CPR number given as a flag.
func errCPRFlag() error {
	return usagef("--cpr is refused: a CPR number on the command line ends up in 'ps' and shell history; " +
		"pipe it in with --cpr-file - (or name a file), or type it at the prompt")
}
