package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/lodestone-bt/lodestone/api"
)

const peersUsage = `usage: lodestone peers [flags] <task-id>

Lists the task's connected peers (task.peers), sorted by address, as a
table: ADDRESS (ip:port), CLIENT (the peer's self-reported client, "-" if
unknown), SOURCE (how it was found: tracker, incoming, dht, pex, lan,
holepunch, direct or unknown), NETWORK (tcp4, udp4 for uTP, ...), DOWN and
UP (the rates from and to the peer) and DONE (the share of the torrent the
peer has). With --json, prints the task.peers result.
`

func runPeers(ctx context.Context, e *env, args []string) error {
	raw, common, err := callOnTask(ctx, e, "peers", peersUsage, api.MethodTaskPeers, "peers of", args)
	if err != nil {
		return err
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var res api.TaskPeersResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("peers: decode result: %w", err)
	}
	return writePeersTable(e.stdout, res.Peers)
}

// writePeersTable writes peers as an aligned table sorted by address,
// header first.
func writePeersTable(w io.Writer, peers []api.TaskPeer) error {
	peers = slices.Clone(peers)
	slices.SortStableFunc(peers, func(a, b api.TaskPeer) int { return cmp.Compare(a.Address, b.Address) })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tCLIENT\tSOURCE\tNETWORK\tDOWN\tUP\tDONE")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			orDash(p.Address), orDash(truncate(p.Client, 32)), orDash(p.Source), orDash(p.Network),
			formatRate(p.DownloadRate), formatRate(p.UploadRate), formatFraction(p.Progress))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// orDash sanitizes s for a table cell, "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return sanitize(s)
}
