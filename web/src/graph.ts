// The header's rate graph: download and upload totals of the last five
// minutes, one sample a second (session.stats events), on a canvas. It
// draws its baseline always, and says "idle" (a label beside the canvas)
// while nothing moved in the window: an empty box read as a broken widget.

import { cssVar } from "./dom.js";
import * as fmt from "./format.js";

const SAMPLES = 300;

export class RateGraph {
  private readonly down = new Float64Array(SAMPLES);
  private readonly up = new Float64Array(SAMPLES);
  private n = 0; // samples held
  private head = 0; // next write position

  constructor(private readonly canvas: HTMLCanvasElement, private readonly idle: HTMLElement) {
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  push(down: number, up: number): void {
    this.down[this.head] = down;
    this.up[this.head] = up;
    this.head = (this.head + 1) % SAMPLES;
    this.n = Math.min(SAMPLES, this.n + 1);
    this.draw();
  }

  clear(): void {
    this.n = 0;
    this.head = 0;
    this.draw();
  }

  private at(arr: Float64Array, i: number): number {
    // i = 0 is the oldest sample held.
    return arr[(this.head - this.n + i + SAMPLES) % SAMPLES]!;
  }

  draw(): void {
    const c = this.canvas;
    if (c.offsetParent === null) return; // hidden (small screens)
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 160;
    const hgt = c.clientHeight || 32;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    let peak = 0;
    for (let i = 0; i < this.n; i++) peak = Math.max(peak, this.at(this.down, i), this.at(this.up, i));
    const max = Math.max(1024, peak);
    this.idle.hidden = peak > 0;
    // The baseline (zero), drawn first so the rates' fill covers it.
    ctx.fillStyle = cssVar("--muted") || "#5d6875";
    ctx.fillRect(0, hgt - 1, w, 1);
    const x = (i: number) => w - ((this.n - 1 - i) / (SAMPLES - 1)) * w;
    const y = (v: number) => hgt - 1 - (v / max) * (hgt - 3);
    if (this.n > 1) {
      ctx.beginPath();
      ctx.moveTo(x(0), hgt);
      for (let i = 0; i < this.n; i++) ctx.lineTo(x(i), y(this.at(this.down, i)));
      ctx.lineTo(x(this.n - 1), hgt);
      ctx.closePath();
      ctx.fillStyle = cssVar("--down-fill") || "rgba(25,118,210,.25)";
      ctx.fill();
      ctx.beginPath();
      for (let i = 0; i < this.n; i++) ctx.lineTo(x(i), y(this.at(this.down, i)));
      ctx.strokeStyle = cssVar("--down") || "#1976d2";
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.beginPath();
      for (let i = 0; i < this.n; i++) ctx.lineTo(x(i), y(this.at(this.up, i)));
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
