// The WebSocket connection to the daemon: requests matched to responses by
// id, events handed on, reconnection with backoff and the highest event id
// seen, so the app can replay what it missed (docs/API.md §2, §9). Before
// each connection the token is traded for the session cookie (POST
// /session), which is also how a refusal is told apart: a wrong token
// (401), too many wrong tokens (429: wait, keep the token), a daemon that
// is not there.

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

// "waiting": the daemon answered 429 (too many wrong tokens); the
// connection is tried again after its Retry-After, with the same token.
export type ConnStatus = "connecting" | "open" | "reconnecting" | "waiting" | "refused";

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

// retryAfter reads a Retry-After header in seconds (at least 1; an absent
// or unreadable one counts as 5).
export function retryAfter(v: string | null): number {
  const n = Number(v ?? "");
  return Number.isInteger(n) && n > 0 ? n : 5;
}

// refusalText reads the message of the API's refusal body, if any.
async function refusalText(r: Response): Promise<string> {
  try {
    const body = (await r.json()) as { message?: unknown };
    if (typeof body.message === "string" && body.message) return body.message;
  } catch {
    // not the API's body
  }
  return `HTTP ${r.status}`;
}

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
    private readonly token: string,
    private readonly h: ConnHandlers,
  ) {}

  start(): void {
    void this.dial();
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

  private async dial(): Promise<void> {
    this.h.status(this.everOpen ? "reconnecting" : "connecting", "");
    // The session cookie first: it lets plain links (/files/…) in, and
    // its answer says why we would be refused. A restarted daemon has
    // forgotten the last one, so this runs before every connection.
    let r: Response;
    try {
      r = await fetch("/session", {
        method: "POST",
        headers: { Authorization: `Bearer ${this.token}` },
        cache: "no-store",
      });
    } catch {
      if (this.stopped) return;
      this.h.status(this.everOpen ? "reconnecting" : "connecting", "cannot reach the daemon");
      this.retry();
      return;
    }
    if (this.stopped) return;
    if (r.status === 429) {
      // Someone (perhaps this browser, with an older token) sent too many
      // wrong tokens from here. Not a verdict on this token: keep it.
      const secs = retryAfter(r.headers.get("Retry-After"));
      this.h.status("waiting", `Too many wrong tokens were tried from this address: retrying in ${secs} s`);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.dial(), secs * 1000);
      return;
    }
    if (r.status === 401 || r.status === 403) {
      this.stopped = true;
      this.h.status("refused", `The daemon refused the token: ${await refusalText(r)}`);
      return;
    }
    if (!r.ok) {
      // Shutting down, overloaded, or a proxy in between: try again.
      this.h.status(this.everOpen ? "reconnecting" : "connecting", await refusalText(r));
      this.retry();
      return;
    }
    this.openSocket();
  }

  private openSocket(): void {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(this.token)}`);
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
        return;
      }
      // The token was just accepted, so the handshake was refused for
      // another reason (too many connections) or the daemon went away:
      // the next dial tells which. Give up after a few refusals in a row.
      if (++this.refusals >= 3) {
        this.stopped = true;
        this.h.status("refused", "The daemon refused the connection: too many connections, or the token changed.");
        return;
      }
      this.h.status(this.everOpen ? "reconnecting" : "connecting", "the daemon refused the connection");
      this.retry();
    };
  }

  private retry(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.dial(), this.backoff);
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
