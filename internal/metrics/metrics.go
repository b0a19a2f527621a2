// Package metrics exposes the daemon's Prometheus metrics: transfer rates
// and totals, tasks by state, peers, API connections and requests, event
// delivery, store latency and the store's size. Gauges are read from their sources at scrape
// time; counters of requests and store writes are fed by hooks. Every
// metric lives in the Metrics' own registry: nothing is global.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lodestone-bt/lodestone/api"
)

// Sources are read at every scrape. Each must be safe for concurrent use.
type Sources struct {
	// Session returns the session.stats result.
	Session func() api.SessionStats
	// Engine returns the engine's totals.
	Engine func() EngineTotals
	// Connections returns the number of open API connections.
	Connections func() int
	// EventsDropped returns how many API clients were cut off because
	// their event queue overflowed; EventsSuperseded how many progress
	// snapshots were replaced by newer ones before delivery.
	EventsDropped, EventsSuperseded func() uint64
	// Store returns the size of the store's file; ok false when it could
	// not be read.
	Store func() (size StoreSize, ok bool)
	// Blocklist returns the IP blocklists' counts (blocklist.go); nil
	// reports none.
	Blocklist func() BlocklistCounts
}

// StoreSize is how much room the task store's file takes. It has exactly
// the fields of the store's Size, so the daemon converts one into the
// other, and this package needs nothing from the store.
type StoreSize struct {
	// File is the file's size in bytes; Free the part of it that holds
	// no data (freed pages, and room grown ahead of use).
	File, Free int64
}

// EngineTotals are the BitTorrent engine's counters that metrics reports.
// It has exactly the fields of the engine's totals, so the daemon converts
// one into the other, and this package needs nothing from the engine.
type EngineTotals struct {
	// BytesRead and BytesWritten are payload bytes received and sent
	// since the engine started; they only grow.
	BytesRead, BytesWritten int64
	// BytesHashed is how much data was hashed since the engine started.
	BytesHashed int64
	// Peers is the number of connected peers; HalfOpen the outgoing
	// connection attempts in progress.
	Peers, HalfOpen int
}

// Metrics is the daemon's metric registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	store    prometheus.Histogram
}

// New returns Metrics reading src, with Go runtime and process metrics.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lodestone_api_requests_total",
			Help: "API requests answered, by method and error code (0 = success).",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lodestone_api_request_duration_seconds",
			Help:    "Time an API method ran, by method.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30},
		}, []string{"method"}),
		store: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lodestone_store_write_duration_seconds",
			Help:    "Time a durable store write took, from the call to its fsync (group commit wait included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.store, &collector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Blocklist != nil {
		m.reg.MustRegister(blocklistCollector{src.Blocklist})
	}
	return m
}

// ObserveRequest counts one answered API request (apiserver's hook).
func (m *Metrics) ObserveRequest(method string, code api.Code, took time.Duration) {
	m.requests.WithLabelValues(method, strconv.Itoa(int(code))).Inc()
	m.latency.WithLabelValues(method).Observe(took.Seconds())
}

// ObserveStoreWrite records one durable store write (the store's hook).
func (m *Metrics) ObserveStoreWrite(took time.Duration) {
	m.store.Observe(took.Seconds())
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// collector reads the gauges and engine counters at scrape time.
type collector struct{ src Sources }

var (
	descDownRate   = prometheus.NewDesc("lodestone_download_rate_bytes", "Payload bytes/s received by all tasks (2 s half-life average).", nil, nil)
	descUpRate     = prometheus.NewDesc("lodestone_upload_rate_bytes", "Payload bytes/s sent by all tasks (2 s half-life average).", nil, nil)
	descDownloaded = prometheus.NewDesc("lodestone_downloaded_bytes_total", "Payload bytes received since the daemon started, removed tasks included.", nil, nil)
	descUploaded   = prometheus.NewDesc("lodestone_uploaded_bytes_total", "Payload bytes sent since the daemon started, removed tasks included.", nil, nil)
	descHashed     = prometheus.NewDesc("lodestone_hashed_bytes_total", "Bytes hashed to verify pieces since the daemon started.", nil, nil)
	descTasks      = prometheus.NewDesc("lodestone_tasks", "Tasks by state.", []string{"state"}, nil)
	descPeers      = prometheus.NewDesc("lodestone_peers", "Connected BitTorrent peers.", nil, nil)
	descHalfOpen   = prometheus.NewDesc("lodestone_peer_dials_in_progress", "Outgoing peer connection attempts in progress.", nil, nil)
	descFree       = prometheus.NewDesc("lodestone_free_disk_bytes", "Free space of the download dir's filesystem (-1 unknown).", nil, nil)
	descConns      = prometheus.NewDesc("lodestone_api_connections", "Open API (WebSocket) connections.", nil, nil)
	descDropped    = prometheus.NewDesc("lodestone_event_clients_dropped_total", "API clients disconnected because their event queue overflowed.", nil, nil)
	descSuperseded = prometheus.NewDesc("lodestone_event_snapshots_superseded_total", "Progress snapshots (task.progress, session.stats) replaced by a newer one before delivery to a slow client.", nil, nil)
	descStoreSize  = prometheus.NewDesc("lodestone_store_size_bytes", "Size of the task store's file, lodestone.db (-1 unknown).", nil, nil)
	descStoreFree  = prometheus.NewDesc("lodestone_store_free_bytes", "Bytes of the task store's file that hold no data; the daemon compacts the file at start when they pass 4 MiB and half of it (-1 unknown).", nil, nil)
)

// states are reported even with no task in them, so a query sees 0
// rather than no series.
var states = []api.TaskState{
	api.StateMetadata, api.StateChecking, api.StateQueued, api.StateDownloading,
	api.StateSeeding, api.StateFinished, api.StatePaused, api.StateError,
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDownRate, descUpRate, descDownloaded, descUploaded, descHashed,
		descTasks, descPeers, descHalfOpen, descFree, descConns, descDropped, descSuperseded, descStoreSize, descStoreFree} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	st := c.src.Session()
	gauge(descDownRate, float64(st.DownloadRate))
	gauge(descUpRate, float64(st.UploadRate))
	gauge(descFree, float64(st.FreeDiskBytes))
	for _, s := range states {
		gauge(descTasks, float64(st.TasksByState[s]), string(s))
	}
	et := c.src.Engine()
	counter(descDownloaded, float64(et.BytesRead))
	counter(descUploaded, float64(et.BytesWritten))
	counter(descHashed, float64(et.BytesHashed))
	gauge(descPeers, float64(et.Peers))
	gauge(descHalfOpen, float64(et.HalfOpen))
	gauge(descConns, float64(c.src.Connections()))
	counter(descDropped, float64(c.src.EventsDropped()))
	counter(descSuperseded, float64(c.src.EventsSuperseded()))
	sz, ok := c.src.Store()
	if !ok {
		sz = StoreSize{File: -1, Free: -1}
	}
	gauge(descStoreSize, float64(sz.File))
	gauge(descStoreFree, float64(sz.Free))
}
