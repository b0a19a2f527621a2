package engine

// Totals are the engine's counts over every torrent, for metrics.
type Totals struct {
	// BytesRead and BytesWritten are payload bytes received and sent
	// since the engine started, torrents removed since included: they
	// only grow.
	BytesRead, BytesWritten int64
	// BytesHashed is how much data was hashed since the engine started.
	BytesHashed int64
	// Peers is the number of connected peers; HalfOpen the outgoing
	// connection attempts in progress.
	Peers, HalfOpen int
}

// Totals reads the engine's totals. It walks every torrent under the
// engine's lock: call it for a scrape, not in a loop.
func (e *anacrolixEngine) Totals() Totals {
	st := e.cl.Stats()
	return Totals{
		BytesRead:    st.BytesReadData.Int64(),
		BytesWritten: st.BytesWrittenData.Int64(),
		BytesHashed:  st.BytesHashed.Int64(),
		Peers:        st.ActivePeers,
		HalfOpen:     st.ActiveHalfOpenAttempts,
	}
}
