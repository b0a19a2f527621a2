package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// runResult is one timed run: what goes into the JSON file.
type runResult struct {
	Round     int    `json:"round"`
	Attempt   int    `json:"attempt"`
	Direction string `json:"direction"`
	Leecher   string `json:"leecher"`
	Seeder    string `json:"seeder"`
	Bytes     int64  `json:"bytes"`
	// WallS is from the leecher's exec to its own "all pieces verified"
	// signal (lodestone: task.finished; aria2: --on-bt-download-complete;
	// qBittorrent: AutoRun; Transmission: its done script; libtorrent:
	// is_finished).
	WallS float64 `json:"wall_s"`
	MiBs  float64 `json:"mib_per_s"`
	// UserS, SysS: the leecher's rusage (with the children it waited for)
	// over its whole life, start-up and shutdown included.
	UserS     float64 `json:"user_s"`
	SysS      float64 `json:"sys_s"`
	CPUS      float64 `json:"cpu_s"`
	MaxRSSMiB float64 `json:"max_rss_mib"`
	// SeederCPUS is the seeder's utime+stime (/proc/PID/stat) from the
	// leecher's start to its finish.
	SeederCPUS float64 `json:"seeder_cpu_s"`
	// SeederCores is SeederCPUS / WallS; SeederBound, that it exceeded
	// -seeder-max: the seeder may have been the bottleneck, and the run
	// says nothing about the leecher (left out of the medians).
	SeederCores float64 `json:"seeder_cores"`
	SeederBound bool    `json:"seeder_bound,omitempty"`
	// OtherCPUS is the CPU time the rest of the machine used during the
	// run (all of /proc/stat minus leecher and seeder): noise.
	OtherCPUS float64 `json:"other_cpu_s"`
	// BusyBefore is how many CPUs the rest of the machine used in the
	// second before the run.
	BusyBefore float64 `json:"busy_before_cpus"`
	// Announces is how many announces the tracker answered during the run.
	Announces int `json:"announces"`
	// NoAnnounce: the run was cut short because the leecher had not
	// announced within -announce-wait.
	NoAnnounce bool   `json:"no_announce,omitempty"`
	Exit       string `json:"exit,omitempty"`
	Verified   bool   `json:"verified"`
	OK         bool   `json:"ok"`
	Error      string `json:"error,omitempty"`
	Note       string `json:"note,omitempty"`
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs     int               `json:"cpus"`
	CPUModel string            `json:"cpu_model"`
	MemGiB   float64           `json:"mem_gib"`
	Kernel   string            `json:"kernel"`
	Versions map[string]string `json:"versions"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, l := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
				m.MemGiB = float64(kb) / (1 << 20)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// stat is the median, min and max of a metric over the successful runs.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// summary is one seeder → leecher pair over its rounds.
type summary struct {
	Seeder    string   `json:"seeder"`
	Leecher   string   `json:"leecher"`
	OK        int      `json:"ok"`
	Invalid   int      `json:"seeder_bound"` // OK runs left out: the seeder was the bottleneck
	Runs      int      `json:"runs"`
	WallS     stat     `json:"wall_s"`
	MiBs      stat     `json:"mib_per_s"`
	CPUS      stat     `json:"cpu_s"`
	MaxRSSMiB stat     `json:"max_rss_mib"`
	SeederCPU stat     `json:"seeder_cpu_s"`
	SeederCor stat     `json:"seeder_cores"`
	CPUPerGiB stat     `json:"cpu_s_per_gib"`
	OtherCPU  stat     `json:"other_cpu_s"`
	Note      string   `json:"note,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

func summarize(runs []runResult) []summary {
	var out []summary
	idx := map[[2]string]int{}
	vals := map[[2]string]*[8][]float64{}
	for _, r := range runs {
		k := [2]string{r.Seeder, r.Leecher}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, summary{Seeder: r.Seeder, Leecher: r.Leecher})
			vals[k] = &[8][]float64{}
		}
		s := &out[i]
		s.Runs++
		if r.Note != "" {
			s.Note = r.Note
		}
		if !r.OK {
			s.Errors = append(s.Errors, fmt.Sprintf("round %d (attempt %d): %s", r.Round, r.Attempt, r.Error))
			continue
		}
		s.OK++
		if r.SeederBound {
			s.Invalid++
			s.Errors = append(s.Errors, fmt.Sprintf("round %d (attempt %d): invalid, the seeder used %.2f cores (%.0f MiB/s)", r.Round, r.Attempt, r.SeederCores, r.MiBs))
			continue
		}
		v := vals[k]
		v[0] = append(v[0], r.WallS)
		v[1] = append(v[1], r.MiBs)
		v[2] = append(v[2], r.CPUS)
		v[3] = append(v[3], r.MaxRSSMiB)
		v[4] = append(v[4], r.SeederCPUS)
		v[5] = append(v[5], r.OtherCPUS)
		v[6] = append(v[6], r.SeederCores)
		v[7] = append(v[7], r.CPUS/(float64(r.Bytes)/(1<<30)))
	}
	for i := range out {
		v := vals[[2]string{out[i].Seeder, out[i].Leecher}]
		out[i].WallS, out[i].MiBs, out[i].CPUS = statOf(v[0]), statOf(v[1]), statOf(v[2])
		out[i].MaxRSSMiB, out[i].SeederCPU, out[i].OtherCPU = statOf(v[3]), statOf(v[4]), statOf(v[5])
		out[i].SeederCor, out[i].CPUPerGiB = statOf(v[6]), statOf(v[7])
	}
	return out
}

// report is the whole result: the JSON file's content.
type report struct {
	Date      string      `json:"date"`
	Machine   machine     `json:"machine"`
	Shape     string      `json:"shape"`
	Direction string      `json:"direction"`
	Rounds    int         `json:"rounds"`
	Timeout   string      `json:"timeout"`
	Maker     string      `json:"maker"`
	Pinned    bool        `json:"pinned"` // leecher on CPU 0, seeder on CPU 1
	Content   *content    `json:"content"`
	Summary   []summary   `json:"summary"`
	Runs      []runResult `json:"runs"`
}

func (r *report) markdown(w io.Writer) {
	c := r.Content
	files := fmt.Sprintf("%d file", len(c.Files))
	if len(c.Files) != 1 {
		files += "s"
	}
	fmt.Fprintf(w, "### swarm: %s, %s in %s, direction %s, %d round(s)\n\n", c.Shape, sizeName(c.Total), files, r.Direction, r.Rounds)
	fmt.Fprintf(w, "%s · %d × %s, %.1f GiB RAM, Linux %s · piece length %s (%d pieces)",
		r.Date, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemGiB, r.Machine.Kernel, sizeName(c.PieceLen), c.NumPieces)
	if c.Shape == shapeBig {
		fmt.Fprintf(w, " · %.1f%% random data, the rest zeros", 100*c.RandomPart)
		if c.Sparse {
			fmt.Fprint(w, " (seeder's file sparse)")
		}
	}
	fmt.Fprintf(w, " · .torrent made by %s", r.Maker)
	if r.Pinned {
		fmt.Fprint(w, " · **pinned: leecher on CPU 0, seeder on CPU 1**")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	v := r.Machine.Versions
	fmt.Fprintf(w, "lodestone %s · aria2 %s · qBittorrent %s · Transmission %s · libtorrent %s (python3-libtorrent)\n\n",
		v[clientLodestone], v[clientAria2], v[clientQBittorrent], v[clientTransmission], v[clientLibtorrent])
	fmt.Fprintln(w, "| seeder → leecher | valid/runs | MiB/s median (min–max) | wall s median (min–max) | leecher CPU s median (min–max) | leecher CPU s per GiB | leecher peak RSS MiB median (max) | seeder CPU s median (min–max) | seeder cores, max | others' CPU s during run, max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range r.Summary {
		name := s.Seeder + " → " + s.Leecher
		if s.Note != "" {
			name += " (" + s.Note + ")"
		}
		if s.OK-s.Invalid == 0 {
			fmt.Fprintf(w, "| %s | 0/%d | failed or seeder-bound | | | | | | | |\n", name, s.Runs)
			continue
		}
		fmt.Fprintf(w, "| %s | %d/%d | **%.0f** (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f | %.0f (%.0f) | %.2f (%.2f–%.2f) | %.2f | %.1f |\n",
			name, s.OK-s.Invalid, s.Runs,
			s.MiBs.Median, s.MiBs.Min, s.MiBs.Max,
			s.WallS.Median, s.WallS.Min, s.WallS.Max,
			s.CPUS.Median, s.CPUS.Min, s.CPUS.Max, s.CPUPerGiB.Median,
			s.MaxRSSMiB.Median, s.MaxRSSMiB.Max,
			s.SeederCPU.Median, s.SeederCPU.Min, s.SeederCPU.Max, s.SeederCor.Max, s.OtherCPU.Max)
	}
	var errs []string
	for _, s := range r.Summary {
		for _, e := range s.Errors {
			errs = append(errs, fmt.Sprintf("- %s → %s, %s", s.Seeder, s.Leecher, e))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nFailed or invalid runs:")
		for _, e := range errs {
			if len(e) > 400 {
				e = e[:400] + "…"
			}
			fmt.Fprintln(w, e)
		}
	}
}
