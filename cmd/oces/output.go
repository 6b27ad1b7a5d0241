package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// printer writes a command's result as text or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (g *globals) printer(w io.Writer) *printer { return &printer{w: w, json: g.output == "json"} }

// print writes v as indented JSON, or calls text for the human form.
func (p *printer) print(v any, text func(w io.Writer) error) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	if err := text(tw); err != nil {
		return err
	}
	return tw.Flush()
}

// fields prints "name:\tvalue" lines, skipping empty values.
func fields(w io.Writer, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s:\t%s\n", kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}
