// Human-readable sizes, rates, durations and dates.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

// size formats bytes with binary units: "0 B", "999 B", "1.46 KiB", "12.3 MiB".
export function size(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "–";
  if (n < 1024) return `${Math.round(n)} B`;
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

// rate formats bytes per second; zero shows as blank (the table stays calm).
export function rate(n: number): string {
  return n > 0 ? `${size(n)}/s` : "";
}

// rateAlways formats bytes per second, zero included.
export function rateAlways(n: number): string {
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

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

// date formats an RFC 3339 time shortly ("" when absent or invalid).
export function date(s: string | undefined, long = false): string {
  if (!s) return "";
  const t = Date.parse(s);
  if (Number.isNaN(t)) return "";
  return (long ? dateTimeFmt : dateFmt).format(t);
}

// unix formats a time in unix seconds shortly; 0 (or less) is never.
export function unix(s: number | undefined, never = "never"): string {
  if (!s || s <= 0 || !Number.isFinite(s)) return never;
  return dateFmt.format(s * 1000);
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
