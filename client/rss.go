package client

import (
	"context"
	"encoding/json"

	"github.com/lodestone-bt/lodestone/api"
)

// AddFeed calls rss.add; intervalS 0 is the default interval.
func (c *Client) AddFeed(ctx context.Context, url string, intervalS int64) (api.RSSFeed, error) {
	var r api.RSSFeed
	err := c.Call(ctx, api.MethodRSSAdd, api.RSSAddParams{URL: url, IntervalS: intervalS}, &r)
	return r, err
}

// Feeds calls rss.list.
func (c *Client) Feeds(ctx context.Context) ([]api.RSSFeed, error) {
	var r api.RSSListResult
	err := c.Call(ctx, api.MethodRSSList, struct{}{}, &r)
	return r.Feeds, err
}

// RemoveFeed calls rss.remove.
func (c *Client) RemoveFeed(ctx context.Context, feedID string) error {
	return c.Call(ctx, api.MethodRSSRemove, api.RSSFeedIDParams{FeedID: feedID}, nil)
}

// RefreshFeed calls rss.refresh: it returns once the feed is fetched and
// its rules applied.
func (c *Client) RefreshFeed(ctx context.Context, feedID string) (api.RSSFeed, error) {
	var r api.RSSFeed
	err := c.Call(ctx, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feedID}, &r)
	return r, err
}

// FeedItems calls rss.items.
func (c *Client) FeedItems(ctx context.Context, feedID string) ([]api.RSSItem, error) {
	var r api.RSSItemsResult
	err := c.Call(ctx, api.MethodRSSItems, api.RSSFeedIDParams{FeedID: feedID}, &r)
	return r.Items, err
}

// SetRule calls rss.rule.set.
func (c *Client) SetRule(ctx context.Context, p api.RSSRuleSetParams) (api.RSSRule, error) {
	var r api.RSSRule
	err := c.Call(ctx, api.MethodRSSRuleSet, p, &r)
	return r, err
}

// Rules calls rss.rule.list.
func (c *Client) Rules(ctx context.Context) ([]api.RSSRule, error) {
	var r api.RSSRuleListResult
	err := c.Call(ctx, api.MethodRSSRuleList, struct{}{}, &r)
	return r.Rules, err
}

// RemoveRule calls rss.rule.remove.
func (c *Client) RemoveRule(ctx context.Context, name string) error {
	return c.Call(ctx, api.MethodRSSRuleRemove, api.RSSRuleNameParams{Name: name}, nil)
}

// PreviewRule calls rss.preview with a saved rule's name.
func (c *Client) PreviewRule(ctx context.Context, name string) ([]api.RSSPreviewItem, error) {
	return c.preview(ctx, name)
}

// PreviewUnsavedRule calls rss.preview with a rule that is not saved.
func (c *Client) PreviewUnsavedRule(ctx context.Context, p api.RSSRuleSetParams) ([]api.RSSPreviewItem, error) {
	return c.preview(ctx, p)
}

func (c *Client) preview(ctx context.Context, rule any) ([]api.RSSPreviewItem, error) {
	raw, err := json.Marshal(rule)
	if err != nil {
		return nil, err
	}
	var r api.RSSPreviewResult
	err = c.Call(ctx, api.MethodRSSPreview, api.RSSPreviewParams{Rule: raw}, &r)
	return r.Items, err
}
