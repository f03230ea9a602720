// Command govc is govmomi's own CLI entry point (cli.Run, as govc/main.go of the same release
// calls it) with the commands the tests run against lh-vcsim (host.esxcli, the host's network,
// options and services, DV port groups, find, logs), built from the govmomi version go.mod pins for
// lh-vcsim: the tests drive the simulator's esxcli with the client of the same release.
// The release's full govc is a separate module whose go.mod replaces govmomi with a local
// path, so `go install .../govc@version` cannot build it; this is the same code path for
// the commands the harness tests.
package main

import (
	"os"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/about"
	_ "github.com/vmware/govmomi/cli/dvs"
	_ "github.com/vmware/govmomi/cli/dvs/portgroup"
	_ "github.com/vmware/govmomi/cli/host"
	_ "github.com/vmware/govmomi/cli/host/esxcli"
	_ "github.com/vmware/govmomi/cli/host/option"
	_ "github.com/vmware/govmomi/cli/host/portgroup"
	_ "github.com/vmware/govmomi/cli/host/service"
	_ "github.com/vmware/govmomi/cli/host/vnic"
	_ "github.com/vmware/govmomi/cli/host/vswitch"
	_ "github.com/vmware/govmomi/cli/logs"
	_ "github.com/vmware/govmomi/cli/object"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
