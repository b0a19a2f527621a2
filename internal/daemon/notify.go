package daemon

import (
	"context"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/sdnotify"
)

// Notifier is how a service manager learns of the daemon's lifecycle:
// systemd's, through *sdnotify.Notifier (Type=notify units,
// contrib/systemd). Config.Notifier; nil tells nobody.
type Notifier interface {
	// Ready is called once by Run, when the API serves and the tasks are
	// loaded.
	Ready(status string) error
	// Stopping is called once, when Close begins to shut down.
	Stopping() error
	// Supervise runs beside the daemon until ctx ends, calling check now
	// and then (the watchdog); onError is told of failures.
	Supervise(ctx context.Context, check sdnotify.Check, onError func(error))
}

// notifyReady tells the Notifier, if any, that the daemon serves.
func (d *Daemon) notifyReady() {
	if d.cfg.Notifier == nil {
		return
	}
	if err := d.cfg.Notifier.Ready("serving the API on " + d.APIURL()); err != nil {
		d.log.Warn("notify the service manager", "err", err)
	}
}

// notifyStopping tells the Notifier, if any, that shutdown has begun.
func (d *Daemon) notifyStopping() {
	if d.cfg.Notifier == nil {
		return
	}
	if err := d.cfg.Notifier.Stopping(); err != nil {
		d.log.Warn("notify the service manager", "err", err)
	}
}

// supervise runs the Notifier's watchdog until ctx ends. Run starts it in
// its group, so the parts it reads outlive it.
func (d *Daemon) supervise(ctx context.Context) {
	log := d.log.With("component", "sdnotify")
	svc, eng := d.svc, d.eng
	d.cfg.Notifier.Supervise(ctx, func(ctx context.Context) (string, error) {
		// The service's lock guards every task operation, and the
		// engine's every torrent: a deadlock on either stops the pings.
		// Answer gives up on a call stuck there, which keeps running on
		// the parts captured above, never on fields Close clears.
		return sdnotify.Answer(ctx, func() (string, error) {
			st := svc.Stats()
			tot := eng.Totals()
			return fmt.Sprintf("%d tasks (%d downloading, %d seeding), %d peers, down %s/s, up %s/s",
				st.Tasks, st.TasksByState[api.StateDownloading], st.TasksByState[api.StateSeeding],
				tot.Peers, iec(st.DownloadRate), iec(st.UploadRate)), nil
		})
	}, func(err error) { log.Warn("service manager notification", "err", err) })
}

// iec formats a byte count in IEC units with one decimal, for the status
// line.
func iec(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
