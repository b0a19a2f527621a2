package store

// Webhooks (issue 17): each webhook's record, its outbox of deliveries
// still to make, and the history of the last ones made.
//
// bucketWebhooks holds the Webhook records by id. bucketWebhookOutbox
// holds a bucket per webhook of its pending deliveries, keyed by the
// event's sequence number (8 bytes, big-endian), each with the event's
// bytes; bucketWebhookHistory a bucket per webhook of the finished ones
// (delivered or failed), without the bytes, trimmed to the newest
// WebhookHistoryCap. A delivery moves from the outbox to the history in
// the transaction that records its end, so it is in exactly one of them.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

var (
	bucketWebhooks       = []byte("webhooks")
	bucketWebhookOutbox  = []byte("webhook_outbox")
	bucketWebhookHistory = []byte("webhook_history")
)

// WebhookHistoryCap is how many finished deliveries are kept per webhook.
const WebhookHistoryCap = 100

// WebhookOutboxCap bounds a webhook's pending deliveries: beyond it, the
// oldest pending one is given up (failed) to make room, so a dead
// endpoint cannot grow the store without bound.
const WebhookOutboxCap = 10_000

// Webhook is the durable form of a webhook.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
	// CreatedAt is when it was added.
	CreatedAt time.Time `json:"created_at"`
	// Cursor is the sequence number of the last event considered for it:
	// every matching event up to it is in its outbox or history.
	Cursor uint64 `json:"cursor"`
	// Pending counts its outbox.
	Pending int `json:"pending"`
	// LastStatus and LastAttemptAt describe the latest attempt.
	LastStatus    int       `json:"last_status,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
}

// The delivery states this package sets or tests (api.Delivery*).
const (
	deliveryPending = "pending"
	deliveryFailed  = "failed"
)

// WebhookDelivery is one event's delivery to a webhook.
type WebhookDelivery struct {
	// Seq is the event's sequence number.
	Seq uint64 `json:"seq"`
	// Event is the event's name.
	Event string `json:"event"`
	// State is "pending", "delivered" or "failed" (api.Delivery*).
	State    string `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	// Status and Error are the latest attempt's HTTP status (0: no
	// answer) and failure.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// FirstAttemptAt starts the time a delivery is retried for.
	FirstAttemptAt time.Time `json:"first_attempt_at,omitzero"`
	LastAttemptAt  time.Time `json:"last_attempt_at,omitzero"`
	NextAttemptAt  time.Time `json:"next_attempt_at,omitzero"`
	// Frame is the event's bytes, the body POSTed: kept while pending.
	Frame []byte `json:"frame,omitempty"`
}

// ErrOutboxFull is the Error of a delivery given up to make room in a
// full outbox.
var ErrOutboxFull = errors.New("outbox full: given up for newer events")

// Webhooks returns every stored webhook, ordered by id.
func (s *Store) Webhooks() ([]Webhook, error) {
	return allJSON[Webhook](s, bucketWebhooks, "webhook", "webhooks")
}

// PutWebhook creates or replaces the webhook w's record, durably.
func (s *Store) PutWebhook(w Webhook) error {
	if w.ID == "" {
		return errors.New("put webhook: empty id")
	}
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketWebhooks)
		if err != nil {
			return err
		}
		return putWebhook(b, w)
	})
	if err != nil {
		return fmt.Errorf("put webhook %s: %w", w.ID, err)
	}
	return nil
}

func putWebhook(b *bbolt.Bucket, w Webhook) error {
	v, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode webhook %s: %w", w.ID, err)
	}
	return b.Put([]byte(w.ID), v)
}

func getWebhook(b *bbolt.Bucket, id string) (Webhook, error) {
	var w Webhook
	if b == nil {
		return w, ErrNotFound
	}
	v := b.Get([]byte(id))
	if v == nil {
		return w, ErrNotFound
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return w, fmt.Errorf("decode webhook %s: %w", id, err)
	}
	return w, nil
}

// DeleteWebhook removes the webhook id, its outbox and its history,
// durably. It returns ErrNotFound when there is no such webhook.
func (s *Store) DeleteWebhook(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketWebhooks)
		if b == nil || b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		for _, name := range [][]byte{bucketWebhookOutbox, bucketWebhookHistory} {
			if p := tx.Bucket(name); p != nil && p.Bucket([]byte(id)) != nil {
				if err := p.DeleteBucket([]byte(id)); err != nil {
					return err
				}
			}
		}
		if err := b.Delete([]byte(id)); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// WebhookEnqueue is what EnqueueWebhooks does to one webhook: move its
// cursor to Cursor and put Deliveries (pending, with their frames) in its
// outbox.
type WebhookEnqueue struct {
	ID         string
	Cursor     uint64
	Deliveries []WebhookDelivery
}

// EnqueueWebhooks applies every WebhookEnqueue in one transaction,
// durably, and returns the sequence numbers given up (moved to the
// history as failed, with ErrOutboxFull) to keep each outbox within
// WebhookOutboxCap, by webhook id. Webhooks that no longer exist are
// skipped; a delivery already in the outbox or the history is kept as it
// is (events considered again after a restart are not delivered anew); a
// cursor never moves back.
func (s *Store) EnqueueWebhooks(qs []WebhookEnqueue) (dropped map[string][]uint64, err error) {
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		dropped = nil
		if err := enqueueWebhooks(tx, qs, &dropped); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue webhook deliveries: %w", err)
	}
	return dropped, nil
}

func enqueueWebhooks(tx *bbolt.Tx, qs []WebhookEnqueue, dropped *map[string][]uint64) error {
	hooks, err := tx.CreateBucketIfNotExists(bucketWebhooks)
	if err != nil {
		return err
	}
	for _, q := range qs {
		w, err := getWebhook(hooks, q.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if len(q.Deliveries) > 0 {
			out, hist, err := deliveryBuckets(tx, q.ID)
			if err != nil {
				return err
			}
			for _, d := range q.Deliveries {
				k := u64(d.Seq)
				if out.Get(k) != nil || hist.Get(k) != nil {
					continue
				}
				v, err := json.Marshal(d)
				if err != nil {
					return fmt.Errorf("encode delivery %d: %w", d.Seq, err)
				}
				if err := out.Put(k, v); err != nil {
					return err
				}
				w.Pending++
			}
			for w.Pending > WebhookOutboxCap {
				k, v := out.Cursor().First()
				if k == nil {
					break
				}
				var d WebhookDelivery
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("decode delivery %d: %w", binary.BigEndian.Uint64(k), err)
				}
				d.State, d.Error, d.NextAttemptAt = deliveryFailed, ErrOutboxFull.Error(), time.Time{}
				if err := finishDelivery(out, hist, d); err != nil {
					return err
				}
				w.Pending--
				if *dropped == nil {
					*dropped = make(map[string][]uint64)
				}
				(*dropped)[q.ID] = append((*dropped)[q.ID], d.Seq)
			}
		}
		w.Cursor = max(w.Cursor, q.Cursor)
		if err := putWebhook(hooks, w); err != nil {
			return err
		}
	}
	return nil
}

// deliveryBuckets returns (creating them) webhook id's outbox and history.
func deliveryBuckets(tx *bbolt.Tx, id string) (out, hist *bbolt.Bucket, err error) {
	po, err := tx.CreateBucketIfNotExists(bucketWebhookOutbox)
	if err != nil {
		return nil, nil, err
	}
	ph, err := tx.CreateBucketIfNotExists(bucketWebhookHistory)
	if err != nil {
		return nil, nil, err
	}
	if out, err = po.CreateBucketIfNotExists([]byte(id)); err != nil {
		return nil, nil, err
	}
	if hist, err = ph.CreateBucketIfNotExists([]byte(id)); err != nil {
		return nil, nil, err
	}
	return out, hist, nil
}

// finishDelivery moves d from the outbox to the history (without its
// frame) and trims the history to WebhookHistoryCap.
func finishDelivery(out, hist *bbolt.Bucket, d WebhookDelivery) error {
	d.Frame = nil
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode delivery %d: %w", d.Seq, err)
	}
	if err := out.Delete(u64(d.Seq)); err != nil {
		return err
	}
	if err := hist.Put(u64(d.Seq), v); err != nil {
		return err
	}
	// Counted with a cursor: Stats does not see the writes of this
	// transaction. The history is short.
	n := 0
	c := hist.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	for k, _ := c.First(); k != nil && n > WebhookHistoryCap; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return nil
}

// WebhookOutbox returns webhook id's pending deliveries, in event order,
// without their frames (WebhookFrame reads one).
func (s *Store) WebhookOutbox(id string) ([]WebhookDelivery, error) {
	var ds []WebhookDelivery
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forDeliveries(tx, bucketWebhookOutbox, id, false, func(d WebhookDelivery) bool {
			d.Frame = nil
			ds = append(ds, d)
			return true
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox of webhook %s: %w", id, err)
	}
	return ds, nil
}

// WebhookPending returns webhook id's pending delivery of the event seq,
// frame included, or ErrNotFound when it is not pending (any more).
func (s *Store) WebhookPending(id string, seq uint64) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := s.db.View(func(tx *bbolt.Tx) error {
		var v []byte
		if b := subBucket(tx, bucketWebhookOutbox, id); b != nil {
			v = b.Get(u64(seq))
		}
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		return d, fmt.Errorf("read delivery %d of webhook %s: %w", seq, id, err)
	}
	return d, nil
}

// subBucket returns webhook id's bucket in parent, nil if there is none.
func subBucket(tx *bbolt.Tx, parent []byte, id string) *bbolt.Bucket {
	p := tx.Bucket(parent)
	if p == nil {
		return nil
	}
	return p.Bucket([]byte(id))
}

// forDeliveries calls fn with the deliveries of webhook id in bucket
// parent, oldest first or (newest) newest first, until fn returns false.
func forDeliveries(tx *bbolt.Tx, parent []byte, id string, newest bool, fn func(WebhookDelivery) bool) error {
	b := subBucket(tx, parent, id)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	first, next := c.First, c.Next
	if newest {
		first, next = c.Last, c.Prev
	}
	for k, v := first(); k != nil; k, v = next() {
		var d WebhookDelivery
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode delivery %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if !fn(d) {
			return nil
		}
	}
	return nil
}

// UpdateWebhookDelivery records an attempt of webhook id's delivery d
// (without its frame, which is kept) and the webhook's latest attempt,
// durably: a pending d stays in the outbox, a finished one moves to the
// history. It returns ErrNotFound when the webhook or the pending
// delivery is gone (removed, or given up for room).
func (s *Store) UpdateWebhookDelivery(id string, d WebhookDelivery) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		hooks := tx.Bucket(bucketWebhooks)
		w, err := getWebhook(hooks, id)
		if err != nil {
			return err
		}
		// Looked up, not created: a missing one is answered without
		// changing anything.
		out, hist := subBucket(tx, bucketWebhookOutbox, id), subBucket(tx, bucketWebhookHistory, id)
		var old []byte
		if out != nil {
			old = out.Get(u64(d.Seq))
		}
		if old == nil {
			return ErrNotFound
		}
		if hist == nil {
			var err error
			if _, hist, err = deliveryBuckets(tx, id); err != nil {
				return errAbort{err}
			}
		}
		var prev WebhookDelivery
		if err := json.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("decode delivery %d: %w", d.Seq, err)
		}
		w.LastStatus, w.LastAttemptAt = d.Status, d.LastAttemptAt
		if d.State == deliveryPending {
			d.Frame = prev.Frame
			v, err := json.Marshal(d)
			if err != nil {
				return fmt.Errorf("encode delivery %d: %w", d.Seq, err)
			}
			if err := out.Put(u64(d.Seq), v); err != nil {
				return err
			}
		} else {
			d.NextAttemptAt = time.Time{}
			if err := finishDelivery(out, hist, d); err != nil {
				return errAbort{err}
			}
			w.Pending--
		}
		if err := putWebhook(hooks, w); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update delivery %d of webhook %s: %w", d.Seq, id, err)
	}
	return nil
}

// WebhookDeliveries returns up to limit of webhook id's deliveries, pending
// and finished, newest event first, without frames. It returns
// ErrNotFound when there is no such webhook.
func (s *Store) WebhookDeliveries(id string, limit int) ([]WebhookDelivery, error) {
	var ds []WebhookDelivery
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, err := getWebhook(tx.Bucket(bucketWebhooks), id); err != nil {
			return err
		}
		var pending, done []WebhookDelivery
		for _, part := range []struct {
			bucket []byte
			to     *[]WebhookDelivery
		}{{bucketWebhookOutbox, &pending}, {bucketWebhookHistory, &done}} {
			err := forDeliveries(tx, part.bucket, id, true, func(d WebhookDelivery) bool {
				d.Frame = nil
				*part.to = append(*part.to, d)
				return len(*part.to) < limit
			})
			if err != nil {
				return err
			}
		}
		// Merge the two, newest first.
		for len(ds) < limit && (len(pending) > 0 || len(done) > 0) {
			if len(done) == 0 || (len(pending) > 0 && pending[0].Seq > done[0].Seq) {
				ds, pending = append(ds, pending[0]), pending[1:]
			} else {
				ds, done = append(ds, done[0]), done[1:]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read deliveries of webhook %s: %w", id, err)
	}
	return ds, nil
}

// checkWebhooks decodes every webhook and delivery record, for
// checkRecords.
func checkWebhooks(tx *bbolt.Tx) error {
	if b := tx.Bucket(bucketWebhooks); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var w Webhook
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("webhook %q: %w", k, err)
			}
			if w.ID != string(k) {
				return fmt.Errorf("webhook %q: record names %q", k, w.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, parent := range [][]byte{bucketWebhookOutbox, bucketWebhookHistory} {
		p := tx.Bucket(parent)
		if p == nil {
			continue
		}
		err := p.ForEach(func(id, v []byte) error {
			b := p.Bucket(id)
			if v != nil || b == nil {
				return fmt.Errorf("%s %q: not a bucket", parent, id)
			}
			return b.ForEach(func(k, v []byte) error {
				var d WebhookDelivery
				if len(k) != 8 {
					return fmt.Errorf("%s %q: key %x", parent, id, k)
				}
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("%s %q delivery %x: %w", parent, id, k, err)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
