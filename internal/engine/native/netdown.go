package native

// SetNetworkDown tells the client whether the network interface it is
// bound to (Config.Control) is usable. Down, every peer connection is
// closed and nothing is dialled: the connections could not carry data
// anyway (their sockets are bound to the interface), and waiting for
// them to time out would delay the recovery. Up again, every torrent
// dials the peers it knew once more, with their backoff forgotten, and
// announces at once, so traffic resumes by itself, from the interface's
// new address if it changed. The listener and the UDP socket are bound
// to the device, not to an address, and need no reopening.
func (c *Client) SetNetworkDown(down bool) {
	if c.netDown.Swap(down) == down {
		return
	}
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	if !down {
		c.reopenListener() // the interface may not have existed before
	}
	for _, t := range ts {
		if down {
			t.dropPeers()
		} else {
			t.redialAll()
			t.Reannounce()
		}
	}
}

// NetworkDown reports what SetNetworkDown last said.
func (c *Client) NetworkDown() bool { return c.netDown.Load() }

// dropPeers closes every peer connection of t.
func (t *Torrent) dropPeers() {
	t.mu.Lock()
	ps := make([]*peer, 0, len(t.peers))
	for p := range t.peers {
		ps = append(ps, p)
	}
	t.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}

// redialAll queues every address t ever learned for dialling again,
// forgetting how often each failed, and dials.
func (t *Torrent) redialAll() {
	t.mu.Lock()
	clear(t.redials)
	t.known = t.known[:0]
	for a := range t.seen {
		if !t.banned[a.Addr()] {
			t.known = append(t.known, a)
		}
	}
	t.mu.Unlock()
	t.spawn(t.dialMore)
}
