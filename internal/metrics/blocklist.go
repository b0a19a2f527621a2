package metrics

import "github.com/prometheus/client_golang/prometheus"

// BlocklistCounts are the IP blocklists' numbers: rules read, lines
// skipped as malformed, and peer addresses and connections refused.
type BlocklistCounts struct {
	Rules, Skipped int
	Refused        int64
}

var (
	descBlockRules   = prometheus.NewDesc("lodestone_blocklist_rules", "Blocking rules in the IP blocklists in force.", nil, nil)
	descBlockSkipped = prometheus.NewDesc("lodestone_blocklist_skipped_lines", "Lines of the IP blocklists in force skipped as malformed.", nil, nil)
	descBlockRefused = prometheus.NewDesc("lodestone_blocklist_refused_total", "Peer addresses (never dialled) and incoming connections refused by the IP blocklists since the daemon started.", nil, nil)
)

// blocklistCollector reads Sources.Blocklist at scrape time.
type blocklistCollector struct{ read func() BlocklistCounts }

func (c blocklistCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBlockRules
	ch <- descBlockSkipped
	ch <- descBlockRefused
}

func (c blocklistCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.read()
	ch <- prometheus.MustNewConstMetric(descBlockRules, prometheus.GaugeValue, float64(n.Rules))
	ch <- prometheus.MustNewConstMetric(descBlockSkipped, prometheus.GaugeValue, float64(n.Skipped))
	ch <- prometheus.MustNewConstMetric(descBlockRefused, prometheus.CounterValue, float64(n.Refused))
}
