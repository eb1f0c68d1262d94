// Command ingester receives OTLP/HTTP and stores each resource entry, as sent, as a
// content-addressed block in the lake. `ingester blocks` inspects what landed; `ingester token new`
// makes a bearer token.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  ingester [serve] [--listen ADDR] [--admin-listen ADDR] [--storage URL] [--config FILE] [--token-file FILE] [--max-body-bytes N] [--allow-anonymous]
  ingester token new [--name NAME] [--signals logs,metrics,traces] [--not-after RFC3339]
  ingester blocks list --storage URL [--signal logs|metrics|traces] [--since TIME]
  ingester blocks show --storage URL BLOCK_ID
`

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "blocks" || args[0] == "token" || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "blocks":
		err = blocks(args)
	case "token":
		err = token(args)
	default:
		fmt.Print(usage)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingester:", err)
		os.Exit(1)
	}
}
