package webhook

// Delivery: a worker per webhook makes one attempt at a time, the oldest
// due delivery first, and records each attempt in the store before the
// next.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// maxResponse caps the bytes of an answer read (and then dropped), so the
// connection can be used again; a larger answer closes it.
const maxResponse = 64 << 10

// newClient returns the HTTP client of deliveries: no proxy from the
// environment, no redirect followed (a 3xx is a failure: following one
// would sign the event to a target nobody added), and, unless
// allowPrivate, no connection to a non-public address, checked on the
// socket dialled, after DNS. With via (a proxy's dialer, which resolves
// host names itself) every connection goes through it, and only address
// literals can be checked (netguard.ViaProxy).
func newClient(allowPrivate bool, timeout time.Duration, via netguard.DialFunc) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = netguard.Control
	}
	dial := netguard.DialFunc(dialer.DialContext)
	if via != nil {
		dial = via
		if !allowPrivate {
			dial = netguard.ViaProxy(via)
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           dial,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
			Proxy:                 nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Sign returns the X-Lodestone-Signature of body sent at timestamp ts
// (unix seconds) with secret: "sha256=" and the hex HMAC-SHA256 of
// "<ts>.<body>".
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// work runs h's deliveries until ctx ends.
func (m *Manager) work(ctx context.Context, h *hook) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		seq, wait, ok := m.due(h)
		if !ok {
			if wait > 0 {
				timer.Reset(wait)
			} else {
				timer.Reset(time.Hour)
			}
			select {
			case <-ctx.Done():
				return
			case <-h.wake:
			case <-timer.C:
			}
			continue
		}
		d, err := m.cfg.Store.WebhookPending(h.rec.ID, seq)
		if errors.Is(err, store.ErrNotFound) {
			m.forget(h, seq) // given up for room, or removed
			continue
		}
		if err != nil {
			m.log.Error("read webhook delivery", "webhook", h.rec.ID, "event", seq, "err", err)
			if !sleep(ctx, m.cfg.Backoff) {
				return
			}
			continue
		}
		d = m.attempt(ctx, h, d)
		if ctx.Err() != nil {
			// Cut short by shutdown or removal: not an attempt of the
			// endpoint's making; it is made again after restart.
			return
		}
		if err := m.cfg.Store.UpdateWebhookDelivery(h.rec.ID, d); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				m.forget(h, seq)
				continue
			}
			m.log.Error("record webhook delivery", "webhook", h.rec.ID, "event", seq, "err", err)
			if !sleep(ctx, m.cfg.Backoff) {
				return
			}
			continue
		}
		m.recorded(h, d)
	}
}

// due returns h's oldest pending delivery that is due, or how long until
// the next one is (0: none pending).
func (m *Manager) due(h *hook) (seq uint64, wait time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var soonest time.Time
	for _, r := range h.pending {
		if !r.next.After(now) {
			return r.seq, 0, true
		}
		if soonest.IsZero() || r.next.Before(soonest) {
			soonest = r.next
		}
	}
	if soonest.IsZero() {
		return 0, 0, false
	}
	return 0, soonest.Sub(now), false
}

// forget drops seq from h's pending deliveries.
func (m *Manager) forget(h *hook, seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range h.pending {
		if r.seq == seq {
			h.pending = append(h.pending[:i], h.pending[i+1:]...)
			return
		}
	}
}

// recorded updates h's memory after the attempt d was stored. A success
// shows the endpoint is up again: the deliveries waiting for a retry
// because it was unreachable or failing (no answer, 408, 429, 5xx) are
// due at once, rather than each after its own backoff. Those it refused
// (another 4xx, a 3xx) keep their backoff: one event the endpoint rejects
// is not retried after every success.
func (m *Manager) recorded(h *hook, d store.WebhookDelivery) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h.lastStatus, h.lastAt = d.Status, d.LastAttemptAt
	if d.State != api.DeliveryPending {
		h.pending = slices.DeleteFunc(h.pending, func(r ref) bool { return r.seq == d.Seq })
	}
	for i := range h.pending {
		r := &h.pending[i]
		switch {
		case r.seq == d.Seq:
			r.next, r.status = d.NextAttemptAt, d.Status
		case d.State == api.DeliveryDelivered && r.next.After(d.LastAttemptAt) && unavailable(r.status):
			r.next = d.LastAttemptAt
		}
	}
}

// unavailable reports whether an attempt answered status failed because
// the endpoint was down or overloaded rather than refusing the event.
func unavailable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// attempt POSTs d once and returns it updated: delivered, pending with
// its next attempt, or failed.
func (m *Manager) attempt(ctx context.Context, h *hook, d store.WebhookDelivery) store.WebhookDelivery {
	now := time.Now()
	if d.FirstAttemptAt.IsZero() {
		d.FirstAttemptAt = now
	}
	d.Attempts++
	d.LastAttemptAt = now
	status, err := m.post(ctx, h, d.Frame, d.Event, d.Seq, now)
	d.Status, d.Error = status, ""
	switch {
	case err == nil:
		d.State, d.NextAttemptAt = api.DeliveryDelivered, time.Time{}
		return d
	case errors.Is(err, netguard.ErrForbidden):
		// The target itself is refused: no retry can succeed.
		d.State, d.NextAttemptAt = api.DeliveryFailed, time.Time{}
		d.Error = err.Error() + " (the daemon sends webhooks to loopback and private addresses only with --allow-private-urls)"
		return d
	}
	d.Error = err.Error()
	deadline := d.FirstAttemptAt.Add(m.cfg.MaxAge)
	if !now.Before(deadline) {
		d.State, d.NextAttemptAt = api.DeliveryFailed, time.Time{}
		d.Error = fmt.Sprintf("gave up after %d attempts: %s", d.Attempts, d.Error)
		return d
	}
	d.State = api.DeliveryPending
	d.NextAttemptAt = now.Add(m.backoff(d.Attempts))
	if d.NextAttemptAt.After(deadline) {
		d.NextAttemptAt = deadline // one last attempt at the deadline
	}
	m.log.Debug("webhook delivery failed", "webhook", h.rec.ID, "event", d.Seq, "attempts", d.Attempts, "err", err)
	return d
}

// backoff returns the wait after the n-th failed attempt: Backoff doubled
// n-1 times, capped at MaxBackoff, of which a random half is waited
// ("equal jitter"), so endpoints that failed together are not retried in
// step.
func (m *Manager) backoff(n int) time.Duration {
	d := m.cfg.MaxBackoff
	if n-1 < 40 {
		if b := m.cfg.Backoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}

// post sends one attempt and returns the answer's status (0 for none) and
// why it is not a success.
func (m *Manager) post(ctx context.Context, h *hook, body []byte, event string, seq uint64, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.rec.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	if m.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", m.cfg.UserAgent)
	}
	req.Header.Set(api.HeaderWebhookEvent, event)
	req.Header.Set(api.HeaderWebhookDelivery, strconv.FormatUint(seq, 10))
	req.Header.Set(api.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(api.HeaderWebhookSignature, Sign(h.rec.Secret, ts, body))
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, fmt.Errorf("answered %s: redirects are not followed", resp.Status)
	}
	if s := snippet(answer); s != "" {
		return resp.StatusCode, fmt.Errorf("answered %s: %s", resp.Status, s)
	}
	return resp.StatusCode, fmt.Errorf("answered %s", resp.Status)
}

// snippet returns the start of an answer's body, printable, for the
// delivery's error.
func snippet(b []byte) string {
	const n = 200
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	r := []rune(strings.TrimSpace(s))
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return string(r)
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
