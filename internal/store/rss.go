package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// RSS (issue 17): feeds, the items of each feed's last fetch, download
// rules, and what each rule has taken — items and episodes — so that a
// restart never adds an item twice. Every record is JSON; the buckets are
// created by the first write.
//
//	rss_feeds     feed id → RSSFeed
//	rss_items     feed id → []RSSItem (the last fetch's items)
//	rss_rules     rule name → RSSRule
//	rss_seen      rule \0 feed id \0 guid → RSSSeen
//	rss_episodes  rule \0 show \0 episode → RSSEpisodeClaim
var (
	bucketRSSFeeds    = []byte("rss_feeds")
	bucketRSSItems    = []byte("rss_items")
	bucketRSSRules    = []byte("rss_rules")
	bucketRSSSeen     = []byte("rss_seen")
	bucketRSSEpisodes = []byte("rss_episodes")
)

// States of an RSSSeen record.
const (
	// RSSAdding: the item was claimed and task.add was (or is being)
	// called. A record left in this state by a crash is never retried:
	// the add may have happened.
	RSSAdding = "adding"
	// RSSAdded: the add succeeded.
	RSSAdded = "added"
	// RSSFailed: the add failed; it may be retried (see ClaimRSSItem).
	RSSFailed = "failed"
	// RSSInterrupted: the daemon stopped while the item was adding.
	RSSInterrupted = "interrupted"
)

// RSSFeed is the durable form of a feed.
type RSSFeed struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	IntervalS int64  `json:"interval_s"`
	Title     string `json:"title,omitempty"`
	// LastFetchAt is the unix time of the last successful fetch.
	LastFetchAt int64 `json:"last_fetch_at,omitempty"`
	// LastError is why the last fetch failed, "" if it did not.
	LastError string `json:"last_error,omitempty"`
	// CreatedAt is when the feed was added, in unix nanoseconds: it
	// orders the feeds.
	CreatedAt int64 `json:"created_at"`
}

// RSSItem is an item of a feed's last fetch.
type RSSItem struct {
	GUID        string `json:"guid"`
	Title       string `json:"title"`
	Link        string `json:"link,omitempty"`
	PublishedAt int64  `json:"published_at,omitempty"`
	// Show and Episode are the normalized show name and episode the
	// title names, both "" when it names none.
	Show    string `json:"show,omitempty"`
	Episode string `json:"episode,omitempty"`
}

// RSSRule is the durable form of a download rule.
type RSSRule struct {
	Name           string   `json:"name"`
	Feeds          []string `json:"feeds,omitempty"`
	Include        string   `json:"include"`
	Exclude        string   `json:"exclude,omitempty"`
	Category       string   `json:"category,omitempty"`
	Paused         bool     `json:"paused,omitempty"`
	DedupeEpisodes bool     `json:"dedupe_episodes,omitempty"`
	Enabled        bool     `json:"enabled"`
}

// RSSSeen records what a rule did with an item.
type RSSSeen struct {
	State    string `json:"state"`
	TaskID   string `json:"task_id,omitempty"`
	Error    string `json:"error,omitempty"`
	Attempts int    `json:"attempts"`
	// At is the unix time of the last change.
	At int64 `json:"at"`
}

// RSSEpisodeClaim records which item took an episode for a rule.
type RSSEpisodeClaim struct {
	FeedID string `json:"feed_id"`
	GUID   string `json:"guid"`
}

// rssKey joins key parts with NUL; a part too long for a key, or holding
// a NUL, is replaced by its SHA-256.
func rssKey(parts ...string) []byte {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(0)
		}
		if len(p) > 256 || strings.IndexByte(p, 0) >= 0 {
			sum := sha256.Sum256([]byte(p))
			p = "sha256:" + hex.EncodeToString(sum[:])
		}
		b.WriteString(p)
	}
	return b.Bytes()
}

// RSSFeeds returns every feed, ordered by id.
func (s *Store) RSSFeeds() ([]RSSFeed, error) {
	var out []RSSFeed
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bucketRSSFeeds, nil, func(_ []byte, f *RSSFeed) { out = append(out, *f) })
	})
	if err != nil {
		return nil, fmt.Errorf("list rss feeds: %w", err)
	}
	return out, nil
}

// PutRSSFeed creates or replaces the feed f, durably.
func (s *Store) PutRSSFeed(f RSSFeed) error {
	return s.putJSON(bucketRSSFeeds, []byte(f.ID), f, "rss feed")
}

// UpdateRSSFeed changes feed id's record with fn, durably, in one
// transaction (so updates of different fields never undo each other), and
// returns ErrNotFound when there is no such feed. fn may run more than
// once: it must only set fields.
func (s *Store) UpdateRSSFeed(id string, fn func(*RSSFeed)) error {
	return s.putRSSFetch(id, fn, nil)
}

// PutRSSFetch stores a successful fetch of feed id: fn changes its record,
// and items replace the previous fetch's, in one transaction. It returns
// ErrNotFound when there is no such feed (removed meanwhile).
func (s *Store) PutRSSFetch(id string, fn func(*RSSFeed), items []RSSItem) error {
	if items == nil {
		items = []RSSItem{}
	}
	return s.putRSSFetch(id, fn, items)
}

// putRSSFetch is UpdateRSSFeed, and also stores items when not nil.
func (s *Store) putRSSFetch(id string, fn func(*RSSFeed), items []RSSItem) error {
	var iv []byte
	if items != nil {
		var err error
		if iv, err = json.Marshal(items); err != nil {
			return fmt.Errorf("encode rss items %s: %w", id, err)
		}
	}
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		fb := tx.Bucket(bucketRSSFeeds)
		if fb == nil {
			return ErrNotFound
		}
		v := fb.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var f RSSFeed
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("decode rss feed %s: %w", id, err)
		}
		fn(&f)
		f.ID = id
		fv, err := json.Marshal(f)
		if err != nil {
			return err
		}
		if iv != nil {
			ib, err := tx.CreateBucketIfNotExists(bucketRSSItems)
			if err != nil {
				return err
			}
			if err := ib.Put([]byte(id), iv); err != nil {
				return err
			}
		}
		if err := fb.Put([]byte(id), fv); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update rss feed %s: %w", id, err)
	}
	return nil
}

// RSSItems returns the items of feed id's last fetch (none before one).
func (s *Store) RSSItems(id string) ([]RSSItem, error) {
	var out []RSSItem
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRSSItems)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("rss items %s: %w", id, err)
	}
	return out, nil
}

// DeleteRSSFeed removes feed id, its items and what every rule saw of it,
// durably. It returns ErrNotFound when there is no such feed.
func (s *Store) DeleteRSSFeed(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		fb := tx.Bucket(bucketRSSFeeds)
		if fb == nil || fb.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := fb.Delete([]byte(id)); err != nil {
			return err
		}
		if ib := tx.Bucket(bucketRSSItems); ib != nil {
			if err := ib.Delete([]byte(id)); err != nil {
				return errAbort{err}
			}
		}
		if sb := tx.Bucket(bucketRSSSeen); sb != nil {
			var dead [][]byte
			mid := rssKey("", id, "") // "\0id\0": rule names hold no NUL
			sb.ForEach(func(k, _ []byte) error {
				if i := bytes.IndexByte(k, 0); i >= 0 && bytes.HasPrefix(k[i:], mid) {
					dead = append(dead, k)
				}
				return nil
			})
			for _, k := range dead {
				if err := sb.Delete(k); err != nil {
					return errAbort{err}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete rss feed %s: %w", id, err)
	}
	return nil
}

// RSSRules returns every rule, ordered by name.
func (s *Store) RSSRules() ([]RSSRule, error) {
	var out []RSSRule
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bucketRSSRules, nil, func(_ []byte, r *RSSRule) { out = append(out, *r) })
	})
	if err != nil {
		return nil, fmt.Errorf("list rss rules: %w", err)
	}
	return out, nil
}

// PutRSSRule creates or replaces the rule r, durably. What the rule saw
// before is kept.
func (s *Store) PutRSSRule(r RSSRule) error {
	if r.Name == "" {
		return errors.New("put rss rule: empty name")
	}
	return s.putJSON(bucketRSSRules, []byte(r.Name), r, "rss rule")
}

// DeleteRSSRule removes the rule name with what it saw and its episodes,
// durably. It returns ErrNotFound when there is no such rule.
func (s *Store) DeleteRSSRule(name string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRSSRules)
		if rb == nil || rb.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		if err := rb.Delete([]byte(name)); err != nil {
			return err
		}
		prefix := append(rssKey(name), 0)
		for _, bn := range [][]byte{bucketRSSSeen, bucketRSSEpisodes} {
			b := tx.Bucket(bn)
			if b == nil {
				continue
			}
			var dead [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				dead = append(dead, k)
			}
			for _, k := range dead {
				if err := b.Delete(k); err != nil {
					return errAbort{err}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete rss rule %q: %w", name, err)
	}
	return nil
}

// RSSRuleState returns what rule name saw, keyed by feed id \0 guid, and
// the episodes it holds, keyed by show \0 episode.
func (s *Store) RSSRuleState(name string) (seen map[string]RSSSeen, episodes map[string]bool, err error) {
	seen, episodes = map[string]RSSSeen{}, map[string]bool{}
	prefix := append(rssKey(name), 0)
	err = s.db.View(func(tx *bbolt.Tx) error {
		err := forEachJSON(tx, bucketRSSSeen, prefix, func(k []byte, v *RSSSeen) {
			seen[string(k[len(prefix):])] = *v
		})
		if err != nil {
			return err
		}
		return forEachJSON(tx, bucketRSSEpisodes, prefix, func(k []byte, _ *RSSEpisodeClaim) {
			episodes[string(k[len(prefix):])] = true
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rss rule %q state: %w", name, err)
	}
	return seen, episodes, nil
}

// RSSSeenKey returns the key RSSRuleState gives an item's record.
func RSSSeenKey(feedID, guid string) string { return string(rssKey(feedID, guid)) }

// RSSEpisodeKey returns the key RSSRuleState gives an episode.
func RSSEpisodeKey(show, episode string) string { return string(rssKey(show, episode)) }

// ClaimRSSItem durably marks item guid of feed feedID as being added by
// rule, with its episode (when episode is not ""), before the caller adds
// it, and returns which attempt this is (1 for the first). It claims
// nothing, and returns 0, when the rule is gone, when the rule took the
// item already (adding, added, interrupted, or failed maxAttempts times),
// or when another item holds the episode.
func (s *Store) ClaimRSSItem(rule, feedID, guid, show, episode string, now int64, maxAttempts int) (int, error) {
	claimed := 0
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		claimed = 0
		rb := tx.Bucket(bucketRSSRules)
		if rb == nil || rb.Get([]byte(rule)) == nil {
			return nil
		}
		sb, err := tx.CreateBucketIfNotExists(bucketRSSSeen)
		if err != nil {
			return err
		}
		eb, err := tx.CreateBucketIfNotExists(bucketRSSEpisodes)
		if err != nil {
			return err
		}
		sk := rssKey(rule, feedID, guid)
		var seen RSSSeen
		if v := sb.Get(sk); v != nil {
			if err := json.Unmarshal(v, &seen); err != nil {
				return fmt.Errorf("decode rss seen %q: %w", sk, err)
			}
			if seen.State != RSSFailed || seen.Attempts >= maxAttempts {
				return nil
			}
		}
		var ek []byte
		if episode != "" {
			ek = rssKey(rule, show, episode)
			if v := eb.Get(ek); v != nil {
				var c RSSEpisodeClaim
				if json.Unmarshal(v, &c) != nil || c.FeedID != feedID || c.GUID != guid {
					return nil
				}
			}
		}
		seen = RSSSeen{State: RSSAdding, Attempts: seen.Attempts + 1, At: now}
		sv, err := json.Marshal(seen)
		if err != nil {
			return err
		}
		if err := sb.Put(sk, sv); err != nil {
			return err
		}
		if ek != nil {
			ev, err := json.Marshal(RSSEpisodeClaim{FeedID: feedID, GUID: guid})
			if err != nil {
				return errAbort{err}
			}
			if err := eb.Put(ek, ev); err != nil {
				return errAbort{err}
			}
		}
		claimed = seen.Attempts
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("claim rss item: %w", err)
	}
	return claimed, nil
}

// FinishRSSItem durably records the end of an add ClaimRSSItem began:
// added with taskID when addErr is "", else failed, releasing the
// episode the item claimed so another release may take it.
func (s *Store) FinishRSSItem(rule, feedID, guid, show, episode, taskID, addErr string, now int64) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		sb := tx.Bucket(bucketRSSSeen)
		if sb == nil {
			return nil
		}
		sk := rssKey(rule, feedID, guid)
		v := sb.Get(sk)
		if v == nil {
			return nil // the rule or the feed was removed meanwhile
		}
		var seen RSSSeen
		if err := json.Unmarshal(v, &seen); err != nil {
			return fmt.Errorf("decode rss seen %q: %w", sk, err)
		}
		seen.At = now
		if addErr == "" {
			seen.State, seen.TaskID, seen.Error = RSSAdded, taskID, ""
		} else {
			seen.State, seen.Error = RSSFailed, addErr
		}
		nv, err := json.Marshal(seen)
		if err != nil {
			return err
		}
		if err := sb.Put(sk, nv); err != nil {
			return err
		}
		if addErr != "" && episode != "" {
			if eb := tx.Bucket(bucketRSSEpisodes); eb != nil {
				ek := rssKey(rule, show, episode)
				var c RSSEpisodeClaim
				if v := eb.Get(ek); v != nil && json.Unmarshal(v, &c) == nil && c.FeedID == feedID && c.GUID == guid {
					if err := eb.Delete(ek); err != nil {
						return errAbort{err}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish rss item: %w", err)
	}
	return nil
}

// InterruptedRSSItem is an item a stop caught adding.
type InterruptedRSSItem struct {
	Rule, FeedID, GUID string
}

// InterruptRSSAdding marks every item still adding as interrupted (call it
// at start, before any add) and returns them. They are never added again:
// the add may have happened before the stop.
func (s *Store) InterruptRSSAdding(now int64) ([]InterruptedRSSItem, error) {
	var out []InterruptedRSSItem
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		out = out[:0]
		sb := tx.Bucket(bucketRSSSeen)
		if sb == nil {
			return nil
		}
		upd := map[string][]byte{}
		err := sb.ForEach(func(k, v []byte) error {
			var seen RSSSeen
			if err := json.Unmarshal(v, &seen); err != nil {
				return fmt.Errorf("decode rss seen %q: %w", k, err)
			}
			if seen.State != RSSAdding {
				return nil
			}
			seen.State, seen.At = RSSInterrupted, now
			nv, err := json.Marshal(seen)
			if err != nil {
				return err
			}
			upd[string(k)] = nv
			parts := strings.SplitN(string(k), "\x00", 3)
			if len(parts) == 3 {
				out = append(out, InterruptedRSSItem{Rule: parts[0], FeedID: parts[1], GUID: parts[2]})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, v := range upd {
			if err := sb.Put([]byte(k), v); err != nil {
				return errAbort{err}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("interrupt rss adds: %w", err)
	}
	return out, nil
}

// putJSON stores v under key in bucket, durably.
func (s *Store) putJSON(bucket, key []byte, v any, what string) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", what, key, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
	if err != nil {
		return fmt.Errorf("put %s %q: %w", what, key, err)
	}
	return nil
}

// forEachJSON decodes each record of bucket whose key starts with prefix
// into a T and calls fn with its key.
func forEachJSON[T any](tx *bbolt.Tx, bucket, prefix []byte, fn func(k []byte, v *T)) error {
	b := tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("%s %q: %w", bucket, k, err)
		}
		fn(k, &t)
	}
	return nil
}

// checkRSS decodes every RSS record, for checkRecords.
func checkRSS(tx *bbolt.Tx) error {
	nop := func([]byte, *json.RawMessage) {}
	for _, b := range [][]byte{bucketRSSFeeds, bucketRSSItems, bucketRSSRules, bucketRSSSeen, bucketRSSEpisodes} {
		if err := forEachJSON(tx, b, nil, nop); err != nil {
			return err
		}
	}
	return nil
}
