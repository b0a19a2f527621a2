const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
export function size(n) {
    if (!Number.isFinite(n) || n < 0)
        return "–";
    if (n < 1024)
        return `${Math.trunc(n)} B`;
    let v = n / 1024;
    let i = 0;
    while (v >= 1023.95 && i < UNITS.length - 1) {
        v /= 1024;
        i++;
    }
    return `${oneDecimal(v)} ${UNITS[i]}`;
}
function oneDecimal(v) {
    const x = v * 10;
    let r = Math.round(x);
    if (x - Math.floor(x) === 0.5 && r % 2 !== 0)
        r -= 1;
    return `${Math.trunc(r / 10)}.${r % 10}`;
}
export function rate(n) {
    return `${size(Math.max(0, n))}/s`;
}
export function duration(s) {
    if (!Number.isFinite(s) || s < 0)
        return "";
    s = Math.round(s);
    if (s < 60)
        return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60)
        return `${m}m ${String(s % 60).padStart(2, "0")}s`;
    const hr = Math.floor(m / 60);
    if (hr < 24)
        return `${hr}h ${String(m % 60).padStart(2, "0")}m`;
    const d = Math.floor(hr / 24);
    if (d >= 365)
        return "∞";
    return `${d}d ${hr % 24}h`;
}
export function percent(completed, total) {
    if (total <= 0)
        return 0;
    return Math.min(100, Math.floor((completed / total) * 1000) / 10);
}
export function percentText(p) {
    return `${p.toFixed(p === 100 || p === 0 ? 0 : 1)}%`;
}
export function ratio(r) {
    return Number.isFinite(r) ? r.toFixed(2) : "∞";
}
export function date(s, long = false) {
    if (!s)
        return "";
    const t = Date.parse(s);
    if (Number.isNaN(t))
        return "";
    return isoLocal(t, long);
}
export function unix(s, never = "never") {
    if (!s || s <= 0 || !Number.isFinite(s))
        return never;
    return isoLocal(s * 1000, false);
}
function isoLocal(ms, seconds) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    const day = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
    const time = `${p(d.getHours())}:${p(d.getMinutes())}${seconds ? `:${p(d.getSeconds())}` : ""}`;
    return `${day} ${time}`;
}
export function stateLabel(s) {
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
export function kibToBytes(v) {
    const n = Number(v.trim() || "0");
    return Number.isFinite(n) && n > 0 ? Math.round(n * 1024) : n === 0 ? 0 : NaN;
}
export function bytesToKib(n) {
    return n > 0 ? String(Math.round((n / 1024) * 100) / 100) : "0";
}
