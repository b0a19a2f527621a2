package daemon

import (
	"slices"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/watch"
)

// addWatchMethods builds the watch folders' part (internal/watch) and
// adds its methods to methods. Its scans run in Run.
func (d *Daemon) addWatchMethods(methods map[string]apiserver.Handler) error {
	var err error
	d.watch, err = watch.New(watch.Options{
		Store:    d.store,
		Service:  d.svc,
		Events:   d.hub,
		Roots:    slices.Concat([]string{d.cfg.DownloadDir}, d.cfg.DownloadRoots, d.cfg.WatchRoots),
		Interval: d.cfg.WatchInterval,
		Logger:   d.log.With("component", "watch"),
	})
	if err != nil {
		return err
	}
	methods[api.MethodWatchAdd] = apiserver.Method(d.watch.Add)
	methods[api.MethodWatchList] = apiserver.Method(d.watch.List)
	methods[api.MethodWatchRemove] = apiserver.Method(d.watch.Remove)
	return nil
}
