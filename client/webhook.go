package client

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
)

// AddWebhook calls webhook.add. The result is the only answer that shows
// the webhook's secret.
func (c *Client) AddWebhook(ctx context.Context, p api.WebhookAddParams) (api.WebhookAddResult, error) {
	var r api.WebhookAddResult
	err := c.Call(ctx, api.MethodWebhookAdd, p, &r)
	return r, err
}

// Webhooks calls webhook.list: every webhook, oldest first.
func (c *Client) Webhooks(ctx context.Context) ([]api.Webhook, error) {
	var r api.WebhookListResult
	err := c.Call(ctx, api.MethodWebhookList, struct{}{}, &r)
	return r.Webhooks, err
}

// RemoveWebhook calls webhook.remove.
func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	return c.Call(ctx, api.MethodWebhookRemove, api.WebhookIDParams{WebhookID: id}, nil)
}

// WebhookDeliveries calls webhook.deliveries: the webhook's latest
// deliveries, newest event first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string) ([]api.WebhookDelivery, error) {
	var r api.WebhookDeliveriesResult
	err := c.Call(ctx, api.MethodWebhookDeliveries, api.WebhookIDParams{WebhookID: id}, &r)
	return r.Deliveries, err
}
