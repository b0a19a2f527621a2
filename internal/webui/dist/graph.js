import { cssVar } from "./dom.js";
import * as fmt from "./format.js";
const SAMPLES = 300;
export class RateGraph {
    canvas;
    down = new Float64Array(SAMPLES);
    up = new Float64Array(SAMPLES);
    n = 0;
    head = 0;
    constructor(canvas) {
        this.canvas = canvas;
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
        let max = 1024;
        for (let i = 0; i < this.n; i++)
            max = Math.max(max, this.at(this.down, i), this.at(this.up, i));
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
        c.setAttribute("aria-label", `Transfer rates of the last 5 minutes; peak ${fmt.rateAlways(max === 1024 ? 0 : max)}; now down ${fmt.rateAlways(d)}, up ${fmt.rateAlways(u)}`);
        c.title = `Last 5 minutes · peak ${fmt.rateAlways(max === 1024 ? 0 : max)}`;
    }
}
