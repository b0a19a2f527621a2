package api

import "encoding/json"

// RSS feeds and download rules (issue 17): the daemon polls feeds and adds
// the items its rules match as tasks.

// RSS method names.
const (
	MethodRSSAdd     = "rss.add"
	MethodRSSList    = "rss.list"
	MethodRSSRemove  = "rss.remove"
	MethodRSSRefresh = "rss.refresh"
	MethodRSSItems   = "rss.items"

	MethodRSSRuleSet    = "rss.rule.set"
	MethodRSSRuleList   = "rss.rule.list"
	MethodRSSRuleRemove = "rss.rule.remove"
	MethodRSSPreview    = "rss.preview"
)

// EventRSSItemAdded: a rule added a feed's item as a task (RSSItemAddedData).
const EventRSSItemAdded = "rss.item_added"

// RSS feed polling intervals, in seconds.
const (
	RSSDefaultInterval = 1800
	RSSMinInterval     = 60
)

// RSSAddParams are the params of rss.add.
type RSSAddParams struct {
	// URL is the feed's http or https URL.
	URL string `json:"url"`
	// IntervalS is the polling interval in seconds: RSSDefaultInterval
	// when 0, at least RSSMinInterval.
	IntervalS int64 `json:"interval_s,omitempty"`
}

// RSSFeed is a feed, the result of rss.add and rss.refresh.
type RSSFeed struct {
	FeedID    string `json:"feed_id"`
	URL       string `json:"url"`
	IntervalS int64  `json:"interval_s"`
	// Title is the feed's own title, "" until its first fetch.
	Title string `json:"title"`
	// LastFetchAt is when the feed was last fetched successfully; 0 if
	// never.
	LastFetchAt int64 `json:"last_fetch_at"`
	// LastError is why the last fetch failed; "" when it succeeded.
	LastError string `json:"last_error"`
	// Items counts the items held from the last successful fetch.
	Items int `json:"items"`
}

// RSSFeedIDParams are the params of rss.remove, rss.refresh and rss.items.
type RSSFeedIDParams struct {
	FeedID string `json:"feed_id"`
}

// RSSListResult is the result of rss.list.
type RSSListResult struct {
	Feeds []RSSFeed `json:"feeds"`
}

// RSSItem is an item of a feed's last fetch.
type RSSItem struct {
	FeedID string `json:"feed_id"`
	// GUID identifies the item in its feed: its guid (RSS) or id (Atom),
	// else its link.
	GUID  string `json:"guid"`
	Title string `json:"title"`
	// Link is what a rule adds: a magnet URI, or the http(s) URL of a
	// .torrent; "" when the item has neither.
	Link string `json:"link"`
	// PublishedAt is the item's date; 0 when it has none.
	PublishedAt int64 `json:"published_at"`
	// Episode is "S01E02" or a date "2026-12-07" when the title names
	// one.
	Episode string `json:"episode,omitempty"`
}

// RSSItemsResult is the result of rss.items.
type RSSItemsResult struct {
	Items []RSSItem `json:"items"`
}

// RSSRuleSetParams are the params of rss.rule.set, and the unsaved rule
// rss.preview may be given.
type RSSRuleSetParams struct {
	Name string `json:"name"`
	// Feeds limits the rule to these feeds; empty is every feed.
	Feeds []string `json:"feeds,omitempty"`
	// Include is an RE2 regular expression an item's title must match
	// (case-insensitively); required.
	Include string `json:"include"`
	// Exclude is an RE2 regular expression a title must not match.
	Exclude string `json:"exclude,omitempty"`
	// Category is the category of the tasks added; it must exist.
	Category string `json:"category,omitempty"`
	// Paused adds the tasks paused.
	Paused bool `json:"paused,omitempty"`
	// DedupeEpisodes adds one item per episode (Episode of RSSItem) and
	// show, however many releases of it appear.
	DedupeEpisodes bool `json:"dedupe_episodes,omitempty"`
	// Enabled is true when absent; a disabled rule adds nothing but can
	// still be previewed.
	Enabled *bool `json:"enabled,omitempty"`
}

// RSSRule is a saved rule.
type RSSRule struct {
	Name           string   `json:"name"`
	Feeds          []string `json:"feeds"`
	Include        string   `json:"include"`
	Exclude        string   `json:"exclude"`
	Category       string   `json:"category"`
	Paused         bool     `json:"paused"`
	DedupeEpisodes bool     `json:"dedupe_episodes"`
	Enabled        bool     `json:"enabled"`
}

// RSSRuleNameParams are the params of rss.rule.remove.
type RSSRuleNameParams struct {
	Name string `json:"name"`
}

// RSSRuleListResult is the result of rss.rule.list.
type RSSRuleListResult struct {
	Rules []RSSRule `json:"rules"`
}

// RSSPreviewParams are the params of rss.preview: Rule is a saved rule's
// name (a JSON string) or a rule object as in rss.rule.set, not saved.
type RSSPreviewParams struct {
	Rule json.RawMessage `json:"rule" schema:"oneOf=string|RSSRuleSetParams"`
}

// RSSPreviewItem is an item a previewed rule matches.
type RSSPreviewItem struct {
	RSSItem
	// Added is true when the rule already added this item, or (with
	// dedupe_episodes) already has its episode.
	Added bool `json:"added"`
}

// RSSPreviewResult is the result of rss.preview.
type RSSPreviewResult struct {
	Items []RSSPreviewItem `json:"items"`
}

// RSSItemAddedData is the data of rss.item_added.
type RSSItemAddedData struct {
	FeedID  string `json:"feed_id"`
	Rule    string `json:"rule"`
	GUID    string `json:"guid"`
	Title   string `json:"title"`
	Link    string `json:"link"`
	TaskID  string `json:"task_id"`
	Episode string `json:"episode,omitempty"`
}
