package cluster

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Files wraps the daemon's /files/{task_id}/… handler: a task placed on
// another node is streamed from that node, through this one, with Range
// requests passed as they are. The request was authorised here; the
// other node is asked with the cluster's token (the same on every node),
// and the client's own credentials (cookie, query token) are not passed.
func (n *Node) Files(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, ok := n.tasks.Get(r.PathValue("task_id"))
		if !ok || e.Node == n.id {
			local.ServeHTTP(w, r)
			return
		}
		target, err := n.httpBase(e.Node)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.URL.Path, pr.Out.URL.RawPath = r.URL.Path, r.URL.RawPath
				q := pr.Out.URL.Query()
				q.Del("token")
				pr.Out.URL.RawQuery = q.Encode()
				pr.Out.Header.Del("Cookie")
				pr.Out.Header.Set("Authorization", "Bearer "+n.token)
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				n.log.Warn("stream a file from another node", "node", e.Node, "err", err)
				http.Error(w, fmt.Sprintf("node %s did not answer", e.Node), http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// httpBase is the HTTP root of a live node's API, from the WebSocket URL
// in its heartbeat.
func (n *Node) httpBase(node string) (*url.URL, error) {
	for _, nd := range n.mem.Live() {
		if nd.ID != node {
			continue
		}
		u, err := url.Parse(nd.APIURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("node %s has no usable API URL (%q)", node, nd.APIURL)
		}
		switch u.Scheme {
		case "wss", "https":
			u.Scheme = "https"
		default:
			u.Scheme = "http"
		}
		u.Path, u.RawQuery = "", ""
		return u, nil
	}
	return nil, fmt.Errorf("node %s, which holds the task, is not live", strings.TrimSpace(node))
}
