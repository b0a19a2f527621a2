package qbittorrent

import (
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// FuzzActionParams feeds form bodies to the parsing of the change
// endpoints' parameters: torrents/add's options, the share limits, tags
// and category fields. Nothing panics, and what comes out is what the
// service takes: limits of -2, -1 or in range, tags trimmed, non-empty
// and without commas.
func FuzzActionParams(f *testing.F) {
	for _, s := range []string{
		"urls=magnet%3A%3Fxt%3Durn%3Abtih%3A0123&tags=a,b&stopped=true&savepath=x",
		"ratioLimit=1.5&seedingTimeLimit=60&inactiveSeedingTimeLimit=-1",
		"ratioLimit=-5&seedingTimeLimit=-2&dlLimit=100&upLimit=-1",
		"ratioLimit=NaN&seedingTimeLimit=99999999999999",
		"ratioLimit=1e400&seedingTimeLimit=-9223372036854775808",
		"ratioLimit=Inf",
		"tags=,,%20,x%00y,&category=films/hd&downloadPathEnabled=TRUE&downloadPath=a&savePath=b",
		"addToTopOfQueue=true&paused=true&sequentialDownload=false",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r := &http.Request{Form: form}
		h := &Handler{}
		p, a, err := h.addOptions(r)
		if err == nil {
			checkLimits(t, p.SeedRatioLimit, p.SeedTimeLimit, p.SeedIdleLimit)
			for _, l := range []*int64{a.set.DownloadRateLimit, a.set.UploadRateLimit} {
				if l != nil && *l <= 0 {
					t.Errorf("rate limit %d set on add", *l)
				}
			}
			for _, tag := range p.Labels {
				if tag == "" || tag != strings.TrimSpace(tag) || strings.Contains(tag, ",") {
					t.Errorf("tag %q from %q", tag, body)
				}
			}
		}
		if ratio, seed, idle, err := shareLimitParams(r); err == nil {
			checkLimits(t, ratio, seed, idle)
		}
		c := categoryFromForm(r)
		_ = validCategoryName(c.Name)
		_ = isInfoHash(form.Get("urls"))
	})
}

func checkLimits(t *testing.T, ratio *float64, seed, idle *int64) {
	t.Helper()
	if ratio != nil {
		if r := *ratio; math.IsNaN(r) || (r != api.SeedLimitSession && r != api.SeedLimitNone && (r < 0 || r > maxRatio)) {
			t.Errorf("ratio limit %v", r)
		}
	}
	for _, l := range []*int64{seed, idle} {
		if l != nil && *l != api.SeedLimitSession && *l != api.SeedLimitNone && (*l < 0 || *l > maxSeedMinutes*60) {
			t.Errorf("time limit %d", *l)
		}
	}
}
