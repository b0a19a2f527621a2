package api

// Webhooks (issue 17): the daemon POSTs matching events to HTTP endpoints,
// signed, at least once, from a durable outbox. docs/API.md describes the
// delivery format and how to verify it.

// Webhook method names.
const (
	MethodWebhookAdd        = "webhook.add"
	MethodWebhookList       = "webhook.list"
	MethodWebhookRemove     = "webhook.remove"
	MethodWebhookDeliveries = "webhook.deliveries"
)

// WebhookAllEvents, alone in WebhookAddParams.Events, subscribes a webhook
// to every event that is logged (all but the EphemeralEvents).
const WebhookAllEvents = "*"

// Headers of a webhook delivery.
const (
	// HeaderWebhookEvent carries the event's name.
	HeaderWebhookEvent = "X-Lodestone-Event"
	// HeaderWebhookDelivery carries the event's id: the same for every
	// attempt of a delivery, so a receiver drops the duplicates that
	// at-least-once delivery may cause.
	HeaderWebhookDelivery = "X-Lodestone-Delivery"
	// HeaderWebhookTimestamp carries the unix time (seconds) of the
	// attempt, as signed.
	HeaderWebhookTimestamp = "X-Lodestone-Timestamp"
	// HeaderWebhookSignature carries "sha256=" and the lowercase hex
	// HMAC-SHA256, keyed with the webhook's secret, of the timestamp, a
	// ".", and the body.
	HeaderWebhookSignature = "X-Lodestone-Signature"
)

// Delivery states (WebhookDelivery.State).
const (
	// DeliveryPending: not delivered yet; it is retried.
	DeliveryPending = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryFailed: given up: retried for the longest time allowed, or
	// refused outright (a target address that is not allowed).
	DeliveryFailed = "failed"
)

// WebhookAddParams are the params of webhook.add.
type WebhookAddParams struct {
	// URL is the endpoint: an absolute http or https URL.
	URL string `json:"url"`
	// Events are event names (as in events.subscribe), or ["*"] for all.
	// Ephemeral events (task.progress, session.stats) are refused.
	Events []string `json:"events"`
	// Secret keys the signature; empty: 32 random bytes, hex-encoded.
	Secret string `json:"secret,omitempty"`
}

// WebhookAddResult is the result of webhook.add. It is the only answer
// that shows the secret.
type WebhookAddResult struct {
	WebhookID string   `json:"webhook_id"`
	Secret    string   `json:"secret"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt int64    `json:"created_at"`
}

// Webhook is a webhook as webhook.list shows it (never its secret).
type Webhook struct {
	WebhookID string   `json:"webhook_id"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt int64    `json:"created_at"`
	// Pending is how many deliveries wait in its outbox.
	Pending int `json:"pending"`
	// LastStatus is the HTTP status of the latest attempt, 0 when it got
	// no answer (or there was none yet).
	LastStatus int `json:"last_status"`
	// LastDeliveryAt is when the latest attempt was made, 0 if none.
	LastDeliveryAt int64 `json:"last_delivery_at"`
}

// WebhookListResult is the result of webhook.list.
type WebhookListResult struct {
	Webhooks []Webhook `json:"webhooks"`
}

// WebhookIDParams are the params of webhook.remove and
// webhook.deliveries.
type WebhookIDParams struct {
	WebhookID string `json:"webhook_id"`
}

// WebhookDelivery is one event's delivery to a webhook.
type WebhookDelivery struct {
	// EventID is the event's id (also its X-Lodestone-Delivery).
	EventID string `json:"event_id"`
	// Event is the event's name.
	Event string `json:"event"`
	// State is DeliveryPending, DeliveryDelivered or DeliveryFailed.
	State string `json:"state"`
	// Attempts counts the attempts made.
	Attempts int `json:"attempts"`
	// Status is the HTTP status of the latest attempt, 0 when it got no
	// answer.
	Status int `json:"status"`
	// Error says why the latest attempt failed.
	Error string `json:"error,omitempty"`
	// LastAttemptAt is when the latest attempt was made, 0 if none.
	LastAttemptAt int64 `json:"last_attempt_at"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt int64 `json:"next_attempt_at,omitempty"`
}

// WebhookDeliveriesResult is the result of webhook.deliveries: the latest
// deliveries (at most 100), newest event first.
type WebhookDeliveriesResult struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
}
