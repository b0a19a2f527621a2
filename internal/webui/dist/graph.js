import { cssVar } from "./dom.js";
import * as fmt from "./format.js";
const SAMPLES = 300;
export class RateGraph {
    canvas;
    idle;
    down = new Float64Array(SAMPLES);
    up = new Float64Array(SAMPLES);
    n = 0;
    head = 0;
    constructor(canvas, idle) {
        this.canvas = canvas;
        this.idle = idle;
        matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
    }
    push(down, up) {
        this.down[this.head] = down;
        this.up[this.head] = up;
        this.head = (this.head + 1) % SAMPLES;
        this.n = Math.min(SAMPLES, this.n + 1);
        this.draw();
    }
    clear() {
        this.n = 0;
        this.head = 0;
        this.draw();
    }
    at(arr, i) {
        return arr[(this.head - this.n + i + SAMPLES) % SAMPLES];
    }
    draw() {
        const c = this.canvas;
        if (c.offsetParent === null)
            return;
        const dpr = window.devicePixelRatio || 1;
        const w = c.clientWidth || 160;
        const hgt = c.clientHeight || 32;
        if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
            c.width = Math.round(w * dpr);
            c.height = Math.round(hgt * dpr);
        }
        const ctx = c.getContext("2d");
        if (!ctx)
            return;
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, w, hgt);
        let peak = 0;
        for (let i = 0; i < this.n; i++)
            peak = Math.max(peak, this.at(this.down, i), this.at(this.up, i));
        const max = Math.max(1024, peak);
        this.idle.hidden = peak > 0;
        ctx.fillStyle = cssVar("--muted") || "#5d6875";
        ctx.fillRect(0, hgt - 1, w, 1);
        const x = (i) => w - ((this.n - 1 - i) / (SAMPLES - 1)) * w;
        const y = (v) => hgt - 1 - (v / max) * (hgt - 3);
        if (this.n > 1) {
            ctx.beginPath();
            ctx.moveTo(x(0), hgt);
            for (let i = 0; i < this.n; i++)
                ctx.lineTo(x(i), y(this.at(this.down, i)));
            ctx.lineTo(x(this.n - 1), hgt);
            ctx.closePath();
            ctx.fillStyle = cssVar("--down-fill") || "rgba(25,118,210,.25)";
            ctx.fill();
            ctx.beginPath();
            for (let i = 0; i < this.n; i++)
                ctx.lineTo(x(i), y(this.at(this.down, i)));
            ctx.strokeStyle = cssVar("--down") || "#1976d2";
            ctx.lineWidth = 1.5;
            ctx.stroke();
            ctx.beginPath();
            for (let i = 0; i < this.n; i++)
                ctx.lineTo(x(i), y(this.at(this.up, i)));
            ctx.strokeStyle = cssVar("--up") || "#2e7d32";
            ctx.stroke();
        }
        const last = this.n > 0 ? this.n - 1 : -1;
        const d = last >= 0 ? this.at(this.down, last) : 0;
        const u = last >= 0 ? this.at(this.up, last) : 0;
        c.setAttribute("aria-label", peak > 0
            ? `Transfer rates of the last 5 minutes; peak ${fmt.rate(peak)}; now down ${fmt.rate(d)}, up ${fmt.rate(u)}`
            : "Transfer rates of the last 5 minutes: idle, nothing transferred");
        c.title = peak > 0 ? `Last 5 minutes · peak ${fmt.rate(peak)}` : "Last 5 minutes · idle";
    }
}
