package cli

import (
	"context"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

const keyUsage = `usage: lodestone key [flags] ls
       lodestone key [flags] create <name> <scope>
       lodestone key [flags] revoke <key-id>

Manages API keys: credentials that work wherever the daemon's token does
(the WebSocket API, /files, /metrics, the Transmission and qBittorrent
APIs), each held to a scope:

  read     every get, list, files, peers, trackers and stats call, events
  control  read, and adding, pausing, resuming, removing, changing, moving
           and rechecking tasks
  admin    everything: settings, categories, keys, webhooks, watch folders,
           RSS

ls lists the keys (key.list): id, name, scope, when it was created and last
used. A key itself is never shown again.

create makes a key (key.create) and prints "key <key-id> <name> <scope>",
then "key: <key>": the key is shown this once (the daemon keeps only its
hash). The name is a label for people, such as "sonarr".

revoke revokes a key (key.revoke) and prints "revoked key <key-id>": it is
refused from then on, on connections already open too.

With --json, prints the daemon's result.
`

func runKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("key")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, keyUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: ls, create or revoke")
	}
	action, rest := pos[0], pos[1:]
	switch action {
	case "ls":
		if err := noArgs(action, rest); err != nil {
			return err
		}
		var r api.KeyListResult
		if printed, err := callAction(ctx, e, &common, "key ls", api.MethodKeyList, struct{}{}, &r); err != nil || printed {
			return err
		}
		rows := make([][]string, 0, len(r.Keys))
		for _, k := range r.Keys {
			rows = append(rows, []string{k.KeyID, k.Name, string(k.Scope), formatTime(k.CreatedAt), formatTime(k.LastUsedAt)})
		}
		return printTable(e.stdout, []string{"ID", "NAME", "SCOPE", "CREATED", "LAST USED"}, rows)
	case "create":
		if len(rest) != 2 {
			return usagef("create takes a name and a scope (read, control or admin)")
		}
		var k api.KeyCreateResult
		p := api.KeyCreateParams{Name: rest[0], Scope: api.Scope(rest[1])}
		if printed, err := callAction(ctx, e, &common, "key create", api.MethodKeyCreate, p, &k); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "key %s %s %s\nkey: %s\n", sanitize(k.KeyID), sanitize(k.Name), sanitize(string(k.Scope)), sanitize(k.Key))
	case "revoke":
		id, err := oneArg(action, "key id", rest)
		if err != nil {
			return err
		}
		if printed, err := callAction(ctx, e, &common, "key revoke", api.MethodKeyRevoke, api.KeyRevokeParams{KeyID: id}, nil); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked key %s\n", sanitize(id))
	default:
		return usagef("unknown action %q: ls, create or revoke", action)
	}
	return nil
}
