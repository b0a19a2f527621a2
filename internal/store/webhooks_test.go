package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func pendingDelivery(seq uint64) WebhookDelivery {
	return WebhookDelivery{Seq: seq, Event: "task.added", State: "pending", NextAttemptAt: time.Now(), Frame: fmt.Appendf(nil, `{"id":"%d"}`, seq)}
}

// The outbox and history of a webhook: enqueueing is idempotent and never
// moves a cursor back, a finished delivery moves to the history (trimmed
// to WebhookHistoryCap), and everything survives a reopen and goes with
// the webhook.
func TestWebhookOutboxAndHistory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWebhook(Webhook{ID: "h1", URL: "http://example.com/", Events: []string{"*"}, Secret: "k", Cursor: 5}); err != nil {
		t.Fatal(err)
	}
	var ds []WebhookDelivery
	for seq := uint64(6); seq < 6+WebhookHistoryCap+20; seq++ {
		ds = append(ds, pendingDelivery(seq))
	}
	qs := []WebhookEnqueue{{ID: "h1", Cursor: 200, Deliveries: ds}, {ID: "gone", Cursor: 9, Deliveries: ds[:1]}}
	if _, err := s.EnqueueWebhooks(qs); err != nil {
		t.Fatal(err)
	}
	// Again, with an older cursor: nothing changes.
	if _, err := s.EnqueueWebhooks([]WebhookEnqueue{{ID: "h1", Cursor: 7, Deliveries: ds[:3]}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds[:WebhookHistoryCap+10] {
		d.Attempts, d.State, d.Status, d.LastAttemptAt = 1, "delivered", 200, time.Now()
		if err := s.UpdateWebhookDelivery("h1", d); err != nil {
			t.Fatal(err)
		}
	}
	retry := ds[len(ds)-1]
	retry.Attempts, retry.Status, retry.Error, retry.Frame = 1, 500, "answered 500", nil
	if err := s.UpdateWebhookDelivery("h1", retry); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateWebhookDelivery("h1", pendingDelivery(9999)); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a delivery never queued: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hooks, err := s.Webhooks()
	if err != nil || len(hooks) != 1 || hooks[0].Cursor != 200 || hooks[0].Pending != 10 || hooks[0].LastStatus != 500 {
		t.Fatalf("webhooks = %+v, %v; want h1 at cursor 200 with 10 pending", hooks, err)
	}
	out, err := s.WebhookOutbox("h1")
	if err != nil || len(out) != 10 || out[0].Seq != ds[WebhookHistoryCap+10].Seq || out[0].Frame != nil {
		t.Fatalf("outbox = %d records, %v", len(out), err)
	}
	p, err := s.WebhookPending("h1", retry.Seq)
	if err != nil || string(p.Frame) != fmt.Sprintf(`{"id":"%d"}`, retry.Seq) || p.Attempts != 1 || p.Error != "answered 500" {
		t.Fatalf("pending %+v, %v: want the frame kept through the update", p, err)
	}
	all, err := s.WebhookDeliveries("h1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10+WebhookHistoryCap {
		t.Fatalf("%d deliveries, want 10 pending + %d kept", len(all), WebhookHistoryCap)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq >= all[i-1].Seq {
			t.Fatalf("deliveries not newest first at %d: %d after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
	if oldest := all[len(all)-1]; oldest.Seq != 16 || oldest.State != "delivered" {
		t.Fatalf("oldest kept %+v, want event 16 (the first 10 trimmed)", oldest)
	}
	if top, err := s.WebhookDeliveries("h1", 3); err != nil || len(top) != 3 || top[0].Seq != ds[len(ds)-1].Seq {
		t.Fatalf("limited deliveries = %+v, %v", top, err)
	}

	if err := s.DeleteWebhook("h1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook("h1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if out, err := s.WebhookOutbox("h1"); err != nil || len(out) != 0 {
		t.Errorf("outbox after delete: %d, %v", len(out), err)
	}
	if _, err := s.WebhookDeliveries("h1", 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("deliveries after delete: %v, want ErrNotFound", err)
	}
}

// A full outbox gives up its oldest deliveries, as failed, to make room.
func TestWebhookOutboxCap(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutWebhook(Webhook{ID: "h", URL: "http://example.com/", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	var ds []WebhookDelivery
	for seq := uint64(1); seq <= WebhookOutboxCap+3; seq++ {
		ds = append(ds, pendingDelivery(seq))
	}
	dropped, err := s.EnqueueWebhooks([]WebhookEnqueue{{ID: "h", Cursor: WebhookOutboxCap + 3, Deliveries: ds}})
	if err != nil {
		t.Fatal(err)
	}
	if got := dropped["h"]; len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("dropped %v, want events 1-3", got)
	}
	hooks, _ := s.Webhooks()
	if hooks[0].Pending != WebhookOutboxCap {
		t.Fatalf("pending %d, want %d", hooks[0].Pending, WebhookOutboxCap)
	}
	if _, err := s.WebhookPending("h", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped delivery still pending: %v", err)
	}
	ds, err = s.WebhookDeliveries("h", WebhookOutboxCap+10)
	if err != nil {
		t.Fatal(err)
	}
	if last := ds[len(ds)-1]; last.Seq != 1 || last.State != "failed" || last.Error != ErrOutboxFull.Error() {
		t.Fatalf("oldest delivery %+v, want failed for room", last)
	}
}

// A damaged webhook or delivery record is found by Open, like any other
// record, rather than failing the daemon later.
func TestDamagedWebhookRecordRefused(t *testing.T) {
	for _, tc := range []struct {
		name          string
		parent, child []byte // child: a webhook's sub-bucket, or nil
		key           []byte
		want          string // in the error
	}{
		{"webhook", bucketWebhooks, nil, []byte("h"), `webhook "h"`},
		{"outbox", bucketWebhookOutbox, []byte("h"), u64(1), `webhook_outbox "h" delivery`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWebhook(Webhook{ID: "h", URL: "http://example.com/", Events: []string{"*"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.EnqueueWebhooks([]WebhookEnqueue{{ID: "h", Cursor: 1, Deliveries: []WebhookDelivery{pendingDelivery(1)}}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(tc.parent)
				if tc.child != nil {
					b = b.Bucket(tc.child)
				}
				return b.Put(tc.key, []byte("{not json"))
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrDamaged naming %s", err, tc.want)
			}
		})
	}
}
