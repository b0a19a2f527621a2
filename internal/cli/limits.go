package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

const limitsUsage = `usage: lodestone limits [flags]

Without flags, shows the daemon-wide limits (session.get), one "key: value"
per line: rates in human units with the exact number of bytes per second in
parentheses, "none" for no limit.

With flags, changes them (session.set) and shows the new values. They are
kept across restarts.

--down and --up cap the download and upload rate of the whole daemon, in
bytes per second: a number, or a size with a unit, such as 500KiB, 1.5MiB,
2M (K, M, G, T and KiB, MiB... are powers of 1024; kB, MB, GB, TB powers of
1000; a trailing /s is allowed). 0 or none removes the cap.

--max-downloads and --max-seeds are how many tasks download, and how many
finished tasks seed, at once; the others wait in state queued. 0 or none
means no limit.

--ratio-limit, --seed-time-limit and --seed-idle-limit end seeding of
every task that follows the session's limits ("lodestone set" gives a task
its own): an upload ratio, a time after it finished, a time without
uploading; times in seconds or as a duration such as 90m or 2h. 0 or none
sets no limit.

With --json, prints the session.get or session.set result.
`

func runLimits(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("limits")
	var common commonFlags
	common.register(fs)
	var down, up sizeFlag
	fs.Var(&down, "down", "cap the download rate at this `rate` per second, e.g. 1MiB (0 or none: no cap)")
	fs.Var(&up, "up", "cap the upload rate at this `rate` per second, e.g. 500KiB (0 or none: no cap)")
	var maxDown, maxSeeds countFlag
	fs.Var(&maxDown, "max-downloads", "download at most this many `tasks` at once (0 or none: no limit)")
	fs.Var(&maxSeeds, "max-seeds", "seed at most this many finished `tasks` at once (0 or none: no limit)")
	ratio := sessionLimitFlag{ratio: true}
	var seedTime, idle sessionLimitFlag
	fs.Var(&ratio, "ratio-limit", "stop seeding at this upload `ratio` (0 or none: no limit)")
	fs.Var(&seedTime, "seed-time-limit", "stop seeding this long after finishing: `seconds` or a duration such as 2h (0 or none: no limit)")
	fs.Var(&idle, "seed-idle-limit", "stop seeding after this long without uploading: `seconds` or a duration (0 or none: no limit)")
	pos, err := e.parse(fs, args, limitsUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	var p api.SessionSetParams
	set := false
	if down.set {
		p.DownloadRateLimit, set = &down.value, true
	}
	if up.set {
		p.UploadRateLimit, set = &up.value, true
	}
	if maxDown.set {
		p.MaxActiveDownloads, set = &maxDown.value, true
	}
	if maxSeeds.set {
		p.MaxActiveSeeds, set = &maxSeeds.value, true
	}
	if ratio.set {
		p.SeedRatioLimit, set = &ratio.value, true
	}
	if seedTime.set {
		v := int64(seedTime.value)
		p.SeedTimeLimit, set = &v, true
	}
	if idle.set {
		v := int64(idle.value)
		p.SeedIdleLimit, set = &v, true
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if set {
		err = c.Call(ctx, api.MethodSessionSet, p, &raw)
	} else {
		err = c.Call(ctx, api.MethodSessionGet, struct{}{}, &raw)
	}
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var s api.Settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("limits: decode result: %w", err)
	}
	return writeLimits(e.stdout, s)
}

// writeLimits writes the limits of s as "key: value" lines.
func writeLimits(w io.Writer, s api.Settings) error {
	rate := func(n int64) string {
		if n == 0 {
			return "none"
		}
		return fmt.Sprintf("%s (%d)", formatRate(n), n)
	}
	slots := func(n int) string {
		if n == 0 {
			return "none"
		}
		return strconv.Itoa(n)
	}
	secs := func(n int64) string {
		if n == 0 {
			return "none"
		}
		return fmt.Sprintf("%s (%d)", time.Duration(n)*time.Second, n)
	}
	ratio := "none"
	if s.SeedRatioLimit != 0 {
		ratio = strconv.FormatFloat(s.SeedRatioLimit, 'f', -1, 64)
	}
	_, err := fmt.Fprintf(w, "download_rate_limit: %s\nupload_rate_limit: %s\nmax_active_downloads: %s\nmax_active_seeds: %s\nseed_ratio_limit: %s\nseed_time_limit: %s\nseed_idle_limit: %s\n",
		rate(s.DownloadRateLimit), rate(s.UploadRateLimit), slots(s.MaxActiveDownloads), slots(s.MaxActiveSeeds),
		ratio, secs(s.SeedTimeLimit), secs(s.SeedIdleLimit))
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// sizeFlag is a byte count given with an optional unit (parseSize).
type sizeFlag struct {
	value int64
	set   bool
}

func (f *sizeFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatInt(f.value, 10)
}

func (f *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	f.value, f.set = n, true
	return nil
}

// parseSize reads a byte count for a human: a number with an optional
// unit. K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024 (what "ls"
// shows); kB, MB, GB, TB powers of 1000; B or nothing is bytes. A
// trailing "/s" is ignored (rates). "none" is 0.
func parseSize(s string) (int64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	if s == "none" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"K": 1 << 10, "k": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20,
		"G": 1 << 30, "GiB": 1 << 30, "T": 1 << 40, "TiB": 1 << 40,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || n < 0 {
		return 0, errors.New("want a size such as 500KiB, 1.5MiB or 2000000 (bytes), or none")
	}
	v := math.Round(n * mult)
	if v > math.MaxInt64/2 {
		return 0, errors.New("size too large")
	}
	return int64(v), nil
}

// countFlag is a whole number of at least 0, or "none" (0).
type countFlag struct {
	value int
	set   bool
}

func (f *countFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.Itoa(f.value)
}

func (f *countFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "none" {
		f.value, f.set = 0, true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return errors.New("want a whole number of 0 or more, or none")
	}
	f.value, f.set = n, true
	return nil
}

// sessionLimitFlag is a session-wide seeding limit: a ratio (ratio) or a
// time in seconds or as a duration; "none" and 0 are no limit. Unlike a
// task's (limitFlag), there is no "session" to follow.
type sessionLimitFlag struct {
	ratio bool
	set   bool
	value float64
}

func (f *sessionLimitFlag) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatFloat(f.value, 'f', -1, 64)
}

func (f *sessionLimitFlag) Set(v string) error {
	if strings.TrimSpace(v) == "session" {
		return errors.New("want a limit or none (session is for a task's own limit, in lodestone set)")
	}
	lf := limitFlag{ratio: f.ratio}
	if err := lf.Set(v); err != nil {
		return err
	}
	f.value, f.set = max(lf.value, 0), true // none (-1) is 0 here
	return nil
}
