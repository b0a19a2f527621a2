// Human-readable sizes, rates, durations and dates.

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

// size formats bytes as the CLI does (internal/cli/format.go formatBytes),
// so that both show the same text for the same task: "512 B", "1.5 KiB",
// "4.8 MiB", "700.0 MiB" (binary units, one decimal, a tie rounded to
// even as Go's %.1f does). The shared cases are in
// web/testdata/formats.json, checked against both.
export function size(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "–";
  if (n < 1024) return `${Math.trunc(n)} B`;
  let v = n / 1024;
  let i = 0;
  // Move up a unit when one decimal would round to 1024.0.
  while (v >= 1023.95 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${oneDecimal(v)} ${UNITS[i]}`;
}

// oneDecimal is v with one decimal, an exact tie (1.25) rounded to even
// as Go's strconv does; toFixed would round it up ("1.3" against the
// CLI's "1.2").
function oneDecimal(v: number): string {
  const x = v * 10;
  let r = Math.round(x);
  if (x - Math.floor(x) === 0.5 && r % 2 !== 0) r -= 1;
  return `${Math.trunc(r / 10)}.${r % 10}`;
}

// rate formats bytes per second, zero included ("0 B/s"), as the CLI does.
export function rate(n: number): string {
  return `${size(Math.max(0, n))}/s`;
}

// duration formats seconds: "42s", "5m 07s", "3h 12m", "2d 4h"; negative is
// unknown ("").
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "";
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr}h ${String(m % 60).padStart(2, "0")}m`;
  const d = Math.floor(hr / 24);
  if (d >= 365) return "∞";
  return `${d}d ${hr % 24}h`;
}

// percent is completed/size floored to one decimal, so that 100% means done.
export function percent(completed: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.floor((completed / total) * 1000) / 10);
}

export function percentText(p: number): string {
  return `${p.toFixed(p === 100 || p === 0 ? 0 : 1)}%`;
}

export function ratio(r: number): string {
  return Number.isFinite(r) ? r.toFixed(2) : "∞";
}

// date formats an RFC 3339 time as local ISO 8601, "2026-12-06 14:03"
// ("2026-12-06 14:03:07" with long, as the CLI prints times): the same in
// every locale, never 12/6/26, which reads as June or December depending
// on who looks. "" when absent or invalid.
export function date(s: string | undefined, long = false): string {
  if (!s) return "";
  const t = Date.parse(s);
  if (Number.isNaN(t)) return "";
  return isoLocal(t, long);
}

// unix formats a time in unix seconds as date does; 0 (or less) is never.
export function unix(s: number | undefined, never = "never"): string {
  if (!s || s <= 0 || !Number.isFinite(s)) return never;
  return isoLocal(s * 1000, false);
}

function isoLocal(ms: number, seconds: boolean): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  const time = `${p(d.getHours())}:${p(d.getMinutes())}${seconds ? `:${p(d.getSeconds())}` : ""}`;
  return `${day} ${time}`;
}

// stateLabel is a task state as shown to people.
export function stateLabel(s: string): string {
  switch (s) {
    case "metadata": return "Fetching metadata";
    case "checking": return "Checking";
    case "queued": return "Queued";
    case "downloading": return "Downloading";
    case "seeding": return "Seeding";
    case "finished": return "Finished";
    case "paused": return "Paused";
    case "error": return "Error";
    default: return s;
  }
}

// parseRate reads a rate limit typed in KiB/s ("" or 0 = none) as bytes/s.
export function kibToBytes(v: string): number {
  const n = Number(v.trim() || "0");
  return Number.isFinite(n) && n > 0 ? Math.round(n * 1024) : n === 0 ? 0 : NaN;
}

export function bytesToKib(n: number): string {
  return n > 0 ? String(Math.round((n / 1024) * 100) / 100) : "0";
}
