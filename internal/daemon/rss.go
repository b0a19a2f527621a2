package daemon

import (
	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/rss"
)

// addRSS builds the RSS manager (issue 17) and registers its methods. Its
// fetches follow the rules of task.add's type "url": a size and time cap,
// and no internal address unless --allow-private-urls.
func (d *Daemon) addRSS(methods map[string]apiserver.Handler) error {
	m, err := rss.New(rss.Config{
		Store:   d.store,
		Service: d.svc,
		Events:  d.hub,
		Fetcher: fetch.New(fetch.Options{
			MaxBytes:     rss.MaxFeedBytes,
			Timeout:      rss.FetchTimeout,
			AllowPrivate: d.cfg.AllowPrivateURLs,
			UserAgent:    engine.UserAgent(d.cfg.Anonymous),
			Dial:         d.net.httpDial(d.cfg.AllowPrivateURLs),
		}),
		Logger: d.log.With("component", "rss"),
	})
	if err != nil {
		return err
	}
	d.rss = m
	methods[api.MethodRSSAdd] = apiserver.Method(m.Add)
	methods[api.MethodRSSList] = apiserver.Method(m.List)
	methods[api.MethodRSSRemove] = apiserver.Method(m.Remove)
	methods[api.MethodRSSRefresh] = apiserver.Method(m.Refresh)
	methods[api.MethodRSSItems] = apiserver.Method(m.Items)
	methods[api.MethodRSSRuleSet] = apiserver.Method(m.SetRule)
	methods[api.MethodRSSRuleList] = apiserver.Method(m.Rules)
	methods[api.MethodRSSRuleRemove] = apiserver.Method(m.RemoveRule)
	methods[api.MethodRSSPreview] = apiserver.Method(m.Preview)
	return nil
}
