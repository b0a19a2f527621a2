package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const webhookUsage = `usage: lodestone webhook [flags] ls
       lodestone webhook [flags] add <url> --event E [--event E]... [--secret S]
       lodestone webhook [flags] rm <webhook-id>
       lodestone webhook [flags] deliveries <webhook-id>

Manages webhooks: the daemon POSTs each event a webhook asks for to its
URL, as the event's JSON envelope, signed with the webhook's secret
(X-Lodestone-Signature: sha256=HMAC-SHA256 of "<timestamp>.<body>"),
at least once, retrying for up to a day. Lodestone never runs a program.

ls lists them (webhook.list): id, URL, events, deliveries pending, the
HTTP status of the last attempt and when it was.

add creates one (webhook.add) and prints "webhook <webhook-id> <url>",
then "secret: <secret>": the secret is shown this once. --event names an
event to send (as in events.subscribe; repeatable, or comma-separated),
"*" every one. Without --secret the daemon makes one.

rm removes one (webhook.remove); its pending deliveries are dropped.
deliveries lists its last 100 deliveries (webhook.deliveries), newest
first: event id and name, state (pending, delivered, failed), attempts,
the last HTTP status, when it was tried last and will be next, and the
last error.

With --json, prints the daemon's result.
`

func runWebhook(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("webhook")
	var common commonFlags
	common.register(fs)
	var events stringList
	fs.Var(&events, "event", "with add: an `event` to send (repeatable, or comma-separated; * for all)")
	secret := fs.String("secret", "", "with add: the `secret` that signs the deliveries (default: the daemon makes one)")
	pos, err := e.parse(fs, args, webhookUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: ls, add, rm or deliveries")
	}
	action, rest := pos[0], pos[1:]
	if err := flagsFor(fs, action, map[string][]string{"event": {"add"}, "secret": {"add"}}); err != nil {
		return err
	}
	switch action {
	case "ls":
		if err := noArgs(action, rest); err != nil {
			return err
		}
		var r api.WebhookListResult
		if printed, err := callAction(ctx, e, &common, "webhook ls", api.MethodWebhookList, struct{}{}, &r); err != nil || printed {
			return err
		}
		rows := make([][]string, 0, len(r.Webhooks))
		for _, w := range r.Webhooks {
			rows = append(rows, []string{w.WebhookID, w.URL, strings.Join(w.Events, ","), strconv.Itoa(w.Pending),
				status(w.LastStatus), formatTime(w.LastDeliveryAt)})
		}
		return printTable(e.stdout, []string{"ID", "URL", "EVENTS", "PENDING", "LAST STATUS", "LAST DELIVERY"}, rows)
	case "add":
		u, err := oneArg(action, "URL", rest)
		if err != nil {
			return err
		}
		var names []string
		for _, v := range events.values {
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
		}
		if len(names) == 0 {
			return usagef("add needs --event (\"*\" for every event)")
		}
		var w api.WebhookAddResult
		p := api.WebhookAddParams{URL: u, Events: names, Secret: *secret}
		if printed, err := callAction(ctx, e, &common, "webhook add", api.MethodWebhookAdd, p, &w); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "webhook %s %s\nsecret: %s\n", sanitize(w.WebhookID), sanitize(w.URL), sanitize(w.Secret))
	case "rm":
		id, err := oneArg(action, "webhook id", rest)
		if err != nil {
			return err
		}
		if printed, err := callAction(ctx, e, &common, "webhook rm", api.MethodWebhookRemove, api.WebhookIDParams{WebhookID: id}, nil); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "removed webhook %s\n", sanitize(id))
	case "deliveries":
		id, err := oneArg(action, "webhook id", rest)
		if err != nil {
			return err
		}
		var r api.WebhookDeliveriesResult
		if printed, err := callAction(ctx, e, &common, "webhook deliveries", api.MethodWebhookDeliveries, api.WebhookIDParams{WebhookID: id}, &r); err != nil || printed {
			return err
		}
		rows := make([][]string, 0, len(r.Deliveries))
		for _, d := range r.Deliveries {
			rows = append(rows, []string{d.EventID, d.Event, d.State, strconv.Itoa(d.Attempts), status(d.Status),
				formatTime(d.LastAttemptAt), formatTime(d.NextAttemptAt), d.Error})
		}
		return printTable(e.stdout, []string{"EVENT ID", "EVENT", "STATE", "ATTEMPTS", "STATUS", "LAST ATTEMPT", "NEXT ATTEMPT", "ERROR"}, rows)
	default:
		return usagef("unknown action %q: ls, add, rm or deliveries", action)
	}
	return nil
}

// status renders an HTTP status, "-" for none (no answer, or no attempt).
func status(code int) string {
	if code == 0 {
		return "-"
	}
	return strconv.Itoa(code)
}
