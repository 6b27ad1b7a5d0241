// Command gen writes corpus.jsonl, the bad-input corpus of package
// badinput; run it from the repository root:
//
//	go run ./testdata/badinput/gen
package main

import (
	"fmt"
	"os"

	"github.com/oces-pki/oces/testdata/badinput"
)

func main() {
	reqs := badinput.Generate()
	if err := os.WriteFile(badinput.File(), badinput.Encode(reqs), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d requests to %s\n", len(reqs), badinput.File())
}
