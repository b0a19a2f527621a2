// The WebSocket connection to the daemon: requests matched to responses by
// id, events handed on, reconnection with backoff and the highest event id
// seen, so the app can replay what it missed (docs/API.md §2, §9).

import { EPHEMERAL, ERROR_NAMES, type ApiEvent } from "./types.js";

// ApiError is a response with a non-zero error code (docs/API.md §7).
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly detail: string,
    readonly method: string,
  ) {
    super(`${ERROR_NAMES[code] ?? `error ${code}`}: ${detail}`);
    this.name = "ApiError";
  }
}

// Disconnected fails a request whose connection is not open or closed
// before its answer (the request may still have taken effect).
export class Disconnected extends Error {
  constructor(method: string) {
    super(`not connected to the daemon (${method})`);
    this.name = "Disconnected";
  }
}

// Api sends requests; the app's, which survives reconnections, is what the
// views hold.
export interface Api {
  call<T>(method: string, params?: object): Promise<T>;
}

export type ConnStatus = "connecting" | "open" | "reconnecting" | "refused";

export interface ConnHandlers {
  // event receives every event, in arrival order, replayed duplicates
  // dropped.
  event(ev: ApiEvent): void;
  // open runs after each successful connection; reconnected is false the
  // first time.
  open(reconnected: boolean): void;
  status(s: ConnStatus, detail: string): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  method: string;
}

// idAbove compares decimal event ids as numbers (docs/API.md §2).
export function idAbove(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

const MAX_BACKOFF = 5000;

export class Conn implements Api {
  private ws: WebSocket | null = null;
  private nextId = 0;
  private readonly pending = new Map<string, Pending>();
  private everOpen = false;
  private stopped = false;
  private backoff = 250;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refusals = 0;
  // lastId is the highest id of a logged (replayable) event received ("0":
  // none yet): the point to replay from. Snapshots (task.progress,
  // session.stats) are left out: one may arrive, on a new connection,
  // before the replayed events that have lower ids.
  lastId = "0";

  constructor(
    private readonly url: string,
    private readonly h: ConnHandlers,
  ) {}

  start(): void {
    this.dial();
  }

  // close ends the connection for good (logout).
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "bye");
    this.failPending();
  }

  get open(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // call sends a request; the promise settles with its result, or an
  // ApiError, or Disconnected.
  call<T>(method: string, params?: object): Promise<T> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Disconnected(method));
    const id = `r${++this.nextId}`;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      ws.send(JSON.stringify({ id, method, params: params ?? {} }));
    });
  }

  private dial(): void {
    this.h.status(this.everOpen ? "reconnecting" : "connecting", "");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.h.status("refused", String(e));
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      const again = this.everOpen;
      this.everOpen = true;
      this.backoff = 250;
      this.refusals = 0;
      this.h.status("open", "");
      this.h.open(again);
    };
    ws.onmessage = (m: MessageEvent) => {
      if (typeof m.data === "string") this.receive(m.data);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending();
      if (this.stopped) return;
      if (opened) {
        this.h.status("reconnecting", e.reason || `connection closed (${e.code})`);
        this.retry();
      } else {
        void this.diagnose();
      }
    };
  }

  // diagnose tells a refused handshake (the daemon answers /healthz, so
  // it refused the token or the connection) from an unreachable daemon,
  // which is retried.
  private async diagnose(): Promise<void> {
    let up = false;
    try {
      const r = await fetch("/healthz", { cache: "no-store" });
      up = r.ok;
    } catch {
      up = false;
    }
    if (this.stopped) return;
    if (up) {
      // A daemon that was serving us and now refuses may be restarting
      // with the same token, or be briefly overloaded: try twice more.
      if (this.everOpen && ++this.refusals < 3) {
        this.h.status("reconnecting", "the daemon refused the connection");
        this.retry();
        return;
      }
      this.stopped = true;
      this.h.status("refused", "The daemon refused the connection: the token is wrong, or there were too many wrong tries (wait a little), or too many connections.");
      return;
    }
    this.h.status(this.everOpen ? "reconnecting" : "connecting", "cannot reach the daemon");
    this.retry();
  }

  private retry(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.dial(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
  }

  private failPending(): void {
    const p = [...this.pending.values()];
    this.pending.clear();
    for (const q of p) q.reject(new Disconnected(q.method));
  }

  private receive(text: string): void {
    let msg: { id?: unknown; error?: unknown; message?: unknown; result?: unknown; name?: unknown; data?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof msg.name === "string") {
      const id = typeof msg.id === "string" ? msg.id : "0";
      if (!EPHEMERAL.has(msg.name)) {
        // Logged events arrive in id order: one not above the last was
        // replayed twice.
        if (!idAbove(id, this.lastId)) return;
        this.lastId = id;
      }
      this.h.event({ id, name: msg.name, data: msg.data });
      return;
    }
    if (typeof msg.error === "number" && typeof msg.id === "string") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error === 0) p.resolve(msg.result);
      else p.reject(new ApiError(msg.error, typeof msg.message === "string" ? msg.message : "", p.method));
    }
  }
}
