package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

const keyUsage = `usage: lodestone key [flags] create --scope read|control|admin <name>
       lodestone key [flags] ls
       lodestone key [flags] revoke <key-id>

Manages scoped API keys: credentials to give a program instead of the
token, each limited to a scope. read reads everything (tasks, events,
stats, files, metrics); control also adds, pauses, resumes, removes,
changes and moves tasks; admin may do everything the token does. A key
works wherever the token does: the WebSocket API, /files, /metrics, and
the Transmission and qBittorrent APIs (as the password).

create makes a key (key.create) and prints its id, then the key itself on a
line of its own: it is shown this once, and only its hash is kept.

ls lists the keys (key.list): id, scope, name, when created and last used
(UTC), never the keys themselves.

revoke revokes a key (key.revoke) and prints "revoked key <key-id>": it
stops working at once, on open connections too.

With --json, prints the daemon's result.
`

func runKey(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("key")
	var common commonFlags
	common.register(fs)
	scope := fs.String("scope", "", "with create: the key's `scope`, read, control or admin")
	pos, err := e.parse(fs, args, keyUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: create, ls or revoke")
	}
	action, rest := pos[0], pos[1:]
	var method string
	var params any
	switch action {
	case "create":
		if len(rest) != 1 {
			return usagef("create takes one name")
		}
		if *scope == "" {
			return usagef("create needs --scope: read, control or admin")
		}
		method, params = api.MethodKeyCreate, api.KeyCreateParams{Name: rest[0], Scope: api.Scope(*scope)}
	case "ls":
		if len(rest) > 0 {
			return usagef("unexpected argument %q", rest[0])
		}
		method, params = api.MethodKeyList, struct{}{}
	case "revoke":
		if len(rest) != 1 {
			return usagef("revoke takes one key id")
		}
		method, params = api.MethodKeyRevoke, api.KeyRevokeParams{KeyID: rest[0]}
	default:
		return usagef("unknown action %q: create, ls or revoke", action)
	}
	if *scope != "" && action != "create" {
		return usagef("--scope goes with create")
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, method, params, &raw); err != nil {
		return fmt.Errorf("key %s: %w", action, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	switch action {
	case "create":
		var k api.KeyCreateResult
		if err := json.Unmarshal(raw, &k); err != nil {
			return fmt.Errorf("key create: decode result: %w", err)
		}
		fmt.Fprintf(e.stdout, "created key %s (%s) %s; the key, shown only this once:\n%s\n", sanitize(k.KeyID), k.Scope, sanitize(k.Name), sanitize(k.Key))
	case "revoke":
		fmt.Fprintf(e.stdout, "revoked key %s\n", sanitize(rest[0]))
	default:
		var r api.KeyListResult
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("key ls: decode result: %w", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY ID\tSCOPE\tNAME\tCREATED\tLAST USED")
		for _, k := range r.Keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sanitize(k.KeyID), sanitize(string(k.Scope)), orDash(sanitize(k.Name)), keyTime(k.CreatedAt), keyTime(k.LastUsedAt))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// keyTime formats a key's unix time in UTC, "never" for 0.
func keyTime(unix int64) string {
	if unix == 0 {
		return "never"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05Z")
}
