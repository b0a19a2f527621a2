package client

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
)

// CreateKey calls key.create: a new API key of scope named name. The
// result's Key is the secret, shown this once: dial with it as the token.
func (c *Client) CreateKey(ctx context.Context, name string, scope api.Scope) (api.KeyCreateResult, error) {
	var r api.KeyCreateResult
	err := c.Call(ctx, api.MethodKeyCreate, api.KeyCreateParams{Name: name, Scope: scope}, &r)
	return r, err
}

// ListKeys calls key.list: the live keys, without their secrets.
func (c *Client) ListKeys(ctx context.Context) ([]api.Key, error) {
	var r api.KeyListResult
	err := c.Call(ctx, api.MethodKeyList, struct{}{}, &r)
	return r.Keys, err
}

// RevokeKey calls key.revoke: keyID authenticates nothing from now on.
func (c *Client) RevokeKey(ctx context.Context, keyID string) error {
	return c.Call(ctx, api.MethodKeyRevoke, api.KeyRevokeParams{KeyID: keyID}, nil)
}
