package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

const rssUsage = `usage: lodestone rss [flags] ls
       lodestone rss [flags] add <url> [--interval D]
       lodestone rss [flags] rm | refresh | items <feed-id>
       lodestone rss [flags] rule ls
       lodestone rss [flags] rule set <name> --include RE [rule flags]
       lodestone rss [flags] rule rm <name>
       lodestone rss [flags] rule preview <name> | --include RE [rule flags]

Manages RSS and Atom feeds and the rules that add their items as tasks.

ls lists the feeds (rss.list): id, title, polling interval, the items of
the last fetch, when it was, the URL and the last fetch's error.

add subscribes to a feed (rss.add) and prints "feed <feed-id> <url>"; its
first fetch starts at once. --interval is how often it is fetched (default
30m, at least 1m).

rm unsubscribes (rss.remove). refresh fetches a feed now and applies the
rules (rss.refresh), printing "refreshed feed <feed-id>: N items"; a fetch
that fails is an error (fetch_failed). items lists the items of a feed's
last fetch (rss.items): published, episode, title and link.

rule set creates a rule, or replaces the one of that name (rss.rule.set),
and prints "rule <name>". A rule adds every item whose title matches
--include and not --exclude (RE2 regular expressions, case-insensitive),
from the feeds given with --feed (default: all), into --category, paused
with --paused. --dedupe-episodes adds one item per episode (S01E02, or a
date), however many releases appear. --disabled keeps the rule but adds
nothing; set without it enables the rule again.

rule ls lists the rules (rss.rule.list); rule rm removes one
(rss.rule.remove). rule preview shows what a rule matches among the items
already fetched (rss.preview) and whether it already added each: a saved
rule by name, or, with --include and the other rule flags, a rule not
saved.

With --json, prints the daemon's result.
`

// ruleFlags are the flags of rss rule set and preview.
type ruleFlags struct {
	include, exclude, category string
	feeds                      stringList
	paused, dedupe, disabled   bool
}

func (f *ruleFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.include, "include", "", "with rule set/preview: the `regexp` an item's title must match")
	fs.StringVar(&f.exclude, "exclude", "", "with rule set/preview: the `regexp` an item's title must not match")
	fs.StringVar(&f.category, "category", "", "with rule set/preview: the `category` of the tasks added")
	fs.Var(&f.feeds, "feed", "with rule set/preview: a `feed-id` the rule reads (repeatable; default: all)")
	fs.BoolVar(&f.paused, "paused", false, "with rule set/preview: add the tasks paused")
	fs.BoolVar(&f.dedupe, "dedupe-episodes", false, "with rule set/preview: add one item per episode")
	fs.BoolVar(&f.disabled, "disabled", false, "with rule set/preview: keep the rule, but add nothing")
}

// params is the rule the flags describe, named name.
func (f *ruleFlags) params(name string) api.RSSRuleSetParams {
	p := api.RSSRuleSetParams{Name: name, Feeds: f.feeds.values, Include: f.include, Exclude: f.exclude,
		Category: f.category, Paused: f.paused, DedupeEpisodes: f.dedupe}
	if f.disabled {
		no := false
		p.Enabled = &no
	}
	return p
}

// rssOwnFlags are the actions each of rss's own flags goes with.
var rssOwnFlags = map[string][]string{
	"interval": {"add"},
	"include":  {"rule set", "rule preview"}, "exclude": {"rule set", "rule preview"},
	"category": {"rule set", "rule preview"}, "feed": {"rule set", "rule preview"},
	"paused": {"rule set", "rule preview"}, "dedupe-episodes": {"rule set", "rule preview"},
	"disabled": {"rule set", "rule preview"},
}

func runRSS(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("rss")
	var common commonFlags
	common.register(fs)
	interval := fs.Duration("interval", 0, "with add: how often the feed is fetched (`duration`, default 30m, at least 1m)")
	var rf ruleFlags
	rf.register(fs)
	pos, err := e.parse(fs, args, rssUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: ls, add, rm, refresh, items or rule")
	}
	action, rest := pos[0], pos[1:]
	if action == "rule" {
		if len(rest) == 0 {
			return usagef("no rule action given: ls, set, rm or preview")
		}
		action, rest = "rule "+rest[0], rest[1:]
	}
	if err := flagsFor(fs, action, rssOwnFlags); err != nil {
		return err
	}
	switch action {
	case "ls":
		return rssList(ctx, e, &common, rest)
	case "add":
		u, err := oneArg(action, "feed URL", rest)
		if err != nil {
			return err
		}
		if *interval < 0 || *interval%time.Second != 0 {
			return usagef("--interval %v: want whole seconds, such as 90s or 30m", *interval)
		}
		var f api.RSSFeed
		p := api.RSSAddParams{URL: u, IntervalS: int64(*interval / time.Second)}
		if printed, err := callAction(ctx, e, &common, "rss add", api.MethodRSSAdd, p, &f); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "feed %s %s\n", sanitize(f.FeedID), sanitize(f.URL))
	case "rm":
		id, err := oneArg(action, "feed id", rest)
		if err != nil {
			return err
		}
		if printed, err := callAction(ctx, e, &common, "rss rm", api.MethodRSSRemove, api.RSSFeedIDParams{FeedID: id}, nil); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "removed feed %s\n", sanitize(id))
	case "refresh":
		id, err := oneArg(action, "feed id", rest)
		if err != nil {
			return err
		}
		var f api.RSSFeed
		if printed, err := callAction(ctx, e, &common, "rss refresh", api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: id}, &f); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "refreshed feed %s: %d items\n", sanitize(f.FeedID), f.Items)
	case "items":
		id, err := oneArg(action, "feed id", rest)
		if err != nil {
			return err
		}
		var r api.RSSItemsResult
		if printed, err := callAction(ctx, e, &common, "rss items", api.MethodRSSItems, api.RSSFeedIDParams{FeedID: id}, &r); err != nil || printed {
			return err
		}
		rows := make([][]string, 0, len(r.Items))
		for _, it := range r.Items {
			rows = append(rows, []string{formatTime(it.PublishedAt), it.Episode, it.Title, it.Link})
		}
		return printTable(e.stdout, []string{"PUBLISHED", "EPISODE", "TITLE", "LINK"}, rows)
	case "rule ls":
		return rssRuleList(ctx, e, &common, rest)
	case "rule set":
		name, err := oneArg(action, "rule name", rest)
		if err != nil {
			return err
		}
		if rf.include == "" {
			return usagef("rule set needs --include")
		}
		var rule api.RSSRule
		if printed, err := callAction(ctx, e, &common, "rss rule set", api.MethodRSSRuleSet, rf.params(name), &rule); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "rule %s\n", sanitize(rule.Name))
	case "rule rm":
		name, err := oneArg(action, "rule name", rest)
		if err != nil {
			return err
		}
		if printed, err := callAction(ctx, e, &common, "rss rule rm", api.MethodRSSRuleRemove, api.RSSRuleNameParams{Name: name}, nil); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "removed rule %s\n", sanitize(name))
	case "rule preview":
		return rssPreview(ctx, e, &common, fs, &rf, rest)
	default:
		return usagef("unknown action %q: ls, add, rm, refresh, items, rule ls, rule set, rule rm or rule preview", action)
	}
	return nil
}

func rssList(ctx context.Context, e *env, common *commonFlags, rest []string) error {
	if err := noArgs("ls", rest); err != nil {
		return err
	}
	var r api.RSSListResult
	if printed, err := callAction(ctx, e, common, "rss ls", api.MethodRSSList, struct{}{}, &r); err != nil || printed {
		return err
	}
	rows := make([][]string, 0, len(r.Feeds))
	for _, f := range r.Feeds {
		every := (time.Duration(f.IntervalS) * time.Second).String()
		rows = append(rows, []string{f.FeedID, f.Title, every, strconv.Itoa(f.Items), formatTime(f.LastFetchAt), f.URL, f.LastError})
	}
	return printTable(e.stdout, []string{"ID", "TITLE", "EVERY", "ITEMS", "LAST FETCH", "URL", "LAST ERROR"}, rows)
}

func rssRuleList(ctx context.Context, e *env, common *commonFlags, rest []string) error {
	if err := noArgs("rule ls", rest); err != nil {
		return err
	}
	var r api.RSSRuleListResult
	if printed, err := callAction(ctx, e, common, "rss rule ls", api.MethodRSSRuleList, struct{}{}, &r); err != nil || printed {
		return err
	}
	rows := make([][]string, 0, len(r.Rules))
	for _, rule := range r.Rules {
		feeds := strings.Join(rule.Feeds, ",")
		if feeds == "" {
			feeds = "all"
		}
		var opts []string
		if !rule.Enabled {
			opts = append(opts, "disabled")
		}
		if rule.Paused {
			opts = append(opts, "paused")
		}
		if rule.DedupeEpisodes {
			opts = append(opts, "dedupe-episodes")
		}
		rows = append(rows, []string{rule.Name, feeds, rule.Include, rule.Exclude, rule.Category, strings.Join(opts, ",")})
	}
	return printTable(e.stdout, []string{"NAME", "FEEDS", "INCLUDE", "EXCLUDE", "CATEGORY", "OPTIONS"}, rows)
}

// rssPreview previews a saved rule by name, or the rule the flags
// describe (named by the argument, if any).
func rssPreview(ctx context.Context, e *env, common *commonFlags, fs *flag.FlagSet, rf *ruleFlags, rest []string) error {
	if len(rest) > 1 {
		return usagef("rule preview takes a rule name, or rule flags, got %d arguments", len(rest))
	}
	unsaved := false
	fs.Visit(func(f *flag.Flag) {
		if _, own := rssOwnFlags[f.Name]; own {
			unsaved = true
		}
	})
	var rule any
	switch {
	case unsaved && rf.include == "":
		return usagef("rule preview of a rule not saved needs --include")
	case unsaved:
		name := "preview"
		if len(rest) == 1 {
			name = rest[0]
		}
		rule = rf.params(name)
	case len(rest) == 1:
		rule = rest[0]
	default:
		return usagef("rule preview needs a rule name, or --include and the other rule flags")
	}
	raw, err := json.Marshal(rule)
	if err != nil {
		return err
	}
	var r api.RSSPreviewResult
	if printed, err := callAction(ctx, e, common, "rss rule preview", api.MethodRSSPreview, api.RSSPreviewParams{Rule: raw}, &r); err != nil || printed {
		return err
	}
	rows := make([][]string, 0, len(r.Items))
	for _, it := range r.Items {
		added := ""
		if it.Added {
			added = "yes"
		}
		rows = append(rows, []string{added, it.FeedID, it.Episode, it.Title})
	}
	return printTable(e.stdout, []string{"ADDED", "FEED", "EPISODE", "TITLE"}, rows)
}
