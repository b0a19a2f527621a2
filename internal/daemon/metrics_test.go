package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// scrape fetches /metrics with the test token and parses it.
func scrape(t *testing.T, d *daemontest.Daemon) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+d.APIAddr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of the series of family name with the given
// labels (pairs), and whether it exists.
func value(mf map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "metrics.bin", Size: 2_000_003, Seed: 61})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 60*time.Second)

	before := scrape(t, d)
	if v, ok := value(before, "lodestone_tasks", "state", "seeding"); !ok || v != 0 {
		t.Errorf("fresh daemon: lodestone_tasks{state=seeding} = %v (present %v), want 0", v, ok)
	}

	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	if err := c.Call(ctx, "task.explode", nil, nil); err == nil {
		t.Fatal("an unknown method succeeded")
	}
	var ae *api.Error
	if err := c.Call(ctx, api.MethodTaskGet, map[string]string{"task_id": "nope"}, nil); !errors.As(err, &ae) || ae.Code != api.CodeTaskNotFound {
		t.Fatalf("task.get nope: %v, want 202", err)
	}
	if err := c.WriteRaw(ctx, []byte(`{"id": 7}`)); err != nil {
		t.Fatal(err)
	}
	<-c.RawResponses()
	// The state is sampled every 0.5 s; the finish was published on one.
	if _, err := c.GetTask(ctx, res.TaskID); err != nil {
		t.Fatal(err)
	}

	mf := scrape(t, d)
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"lodestone_api_requests_total", []string{"method", "task.add", "code", "0"}, 1, 1},
		{"lodestone_api_requests_total", []string{"method", "task.get", "code", "0"}, 1, 1},
		{"lodestone_api_requests_total", []string{"method", "task.get", "code", "202"}, 1, 1},
		{"lodestone_api_requests_total", []string{"method", "(unknown)", "code", "102"}, 1, 1},
		{"lodestone_api_requests_total", []string{"method", "(invalid)", "code", "101"}, 1, 1},
		{"lodestone_api_request_duration_seconds", []string{"method", "task.add"}, 1, 1},
		{"lodestone_tasks", []string{"state", "seeding"}, 1, 1},
		{"lodestone_tasks", []string{"state", "downloading"}, 0, 0},
		{"lodestone_downloaded_bytes_total", nil, 2_000_003, 1e12},
		{"lodestone_hashed_bytes_total", nil, 2_000_003, 1e12},
		{"lodestone_peers", nil, 0, 10}, // two seeds drop their connection
		{"lodestone_api_connections", nil, 1, 1},
		{"lodestone_store_write_duration_seconds", nil, 2, 1e9}, // the add and the finish at least
		{"lodestone_free_disk_bytes", nil, 1, 1e18},
		{"lodestone_event_clients_dropped_total", nil, 0, 0},
		{"lodestone_store_size_bytes", nil, 4096, 1 << 30},
		{"lodestone_store_free_bytes", nil, 0, 1 << 30},
		{"go_goroutines", nil, 1, 1e6},
		{"process_resident_memory_bytes", nil, 1, 1e12},
	} {
		v, ok := value(mf, want.name, want.labels...)
		if !ok || v < want.min || v > want.max {
			t.Errorf("%s%v = %v (present %v), want %v..%v", want.name, want.labels, v, ok, want.min, want.max)
		}
	}
}

// newSession trades the token for the web UI's session cookie (POST
// /session), as the UI does.
func newSession(t testing.TB, d *daemontest.Daemon) *http.Cookie {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+d.APIAddr()+"/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == httpguard.SessionCookie {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("POST /session: %s, no session cookie", resp.Status)
	return nil
}

func TestMetricsNeedToken(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	session := newSession(t, d)
	for _, tc := range []struct {
		name   string
		header func(*http.Request)
		want   int
	}{
		{"no token", func(*http.Request) {}, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+daemontest.Token) }, http.StatusOK},
		{"session cookie", func(r *http.Request) { r.AddCookie(session) }, http.StatusOK},
		{"old token cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "lodestone_token", Value: daemontest.Token}) }, http.StatusUnauthorized},
		{"rebound host", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+daemontest.Token)
			r.Host = "evil.example"
		}, http.StatusForbidden},
	} {
		req, err := http.NewRequest("GET", "http://"+d.APIAddr()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		tc.header(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: body: %v", tc.name, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.want != http.StatusOK {
			var r api.Response
			if err := json.Unmarshal(body.Bytes(), &r); err != nil || r.Error != api.CodeUnauthorized {
				t.Errorf("%s: body %q, want the API's refusal body with code 401", tc.name, body.String())
			}
		}
	}
	req, err := http.NewRequest("GET", "http://"+d.APIAddr()+"/metrics?token="+daemontest.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("?token=: HTTP %d, want 200", resp.StatusCode)
	}
}
