import { EPHEMERAL, ERROR_NAMES } from "./types.js";
export class ApiError extends Error {
    code;
    detail;
    method;
    constructor(code, detail, method) {
        super(`${ERROR_NAMES[code] ?? `error ${code}`}: ${detail}`);
        this.code = code;
        this.detail = detail;
        this.method = method;
        this.name = "ApiError";
    }
}
export class Disconnected extends Error {
    constructor(method) {
        super(`not connected to the daemon (${method})`);
        this.name = "Disconnected";
    }
}
export function idAbove(a, b) {
    return a.length !== b.length ? a.length > b.length : a > b;
}
const MAX_BACKOFF = 5000;
export function retryAfter(v) {
    const n = Number(v ?? "");
    return Number.isInteger(n) && n > 0 ? n : 5;
}
async function refusalText(r) {
    try {
        const body = (await r.json());
        if (typeof body.message === "string" && body.message)
            return body.message;
    }
    catch {
    }
    return `HTTP ${r.status}`;
}
export class Conn {
    token;
    h;
    ws = null;
    nextId = 0;
    pending = new Map();
    everOpen = false;
    stopped = false;
    backoff = 250;
    timer;
    refusals = 0;
    lastId = "0";
    constructor(token, h) {
        this.token = token;
        this.h = h;
    }
    start() {
        void this.dial();
    }
    close() {
        this.stopped = true;
        clearTimeout(this.timer);
        const ws = this.ws;
        this.ws = null;
        ws?.close(1000, "bye");
        this.failPending();
    }
    get open() {
        return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
    }
    call(method, params) {
        const ws = this.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN)
            return Promise.reject(new Disconnected(method));
        const id = `r${++this.nextId}`;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve: resolve, reject, method });
            ws.send(JSON.stringify({ id, method, params: params ?? {} }));
        });
    }
    async dial() {
        this.h.status(this.everOpen ? "reconnecting" : "connecting", "");
        let r;
        try {
            r = await fetch("/session", {
                method: "POST",
                headers: { Authorization: `Bearer ${this.token}` },
                cache: "no-store",
            });
        }
        catch {
            if (this.stopped)
                return;
            this.h.status(this.everOpen ? "reconnecting" : "connecting", "cannot reach the daemon");
            this.retry();
            return;
        }
        if (this.stopped)
            return;
        if (r.status === 429) {
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
            this.h.status(this.everOpen ? "reconnecting" : "connecting", await refusalText(r));
            this.retry();
            return;
        }
        this.openSocket();
    }
    openSocket() {
        const proto = location.protocol === "https:" ? "wss:" : "ws:";
        let ws;
        try {
            ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(this.token)}`);
        }
        catch (e) {
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
        ws.onmessage = (m) => {
            if (typeof m.data === "string")
                this.receive(m.data);
        };
        ws.onclose = (e) => {
            if (this.ws !== ws)
                return;
            this.ws = null;
            this.failPending();
            if (this.stopped)
                return;
            if (opened) {
                this.h.status("reconnecting", e.reason || `connection closed (${e.code})`);
                this.retry();
                return;
            }
            if (++this.refusals >= 3) {
                this.stopped = true;
                this.h.status("refused", "The daemon refused the connection: too many connections, or the token changed.");
                return;
            }
            this.h.status(this.everOpen ? "reconnecting" : "connecting", "the daemon refused the connection");
            this.retry();
        };
    }
    retry() {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.dial(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
    }
    failPending() {
        const p = [...this.pending.values()];
        this.pending.clear();
        for (const q of p)
            q.reject(new Disconnected(q.method));
    }
    receive(text) {
        let msg;
        try {
            msg = JSON.parse(text);
        }
        catch {
            return;
        }
        if (typeof msg.name === "string") {
            const id = typeof msg.id === "string" ? msg.id : "0";
            if (!EPHEMERAL.has(msg.name)) {
                if (!idAbove(id, this.lastId))
                    return;
                this.lastId = id;
            }
            this.h.event({ id, name: msg.name, data: msg.data });
            return;
        }
        if (typeof msg.error === "number" && typeof msg.id === "string") {
            const p = this.pending.get(msg.id);
            if (!p)
                return;
            this.pending.delete(msg.id);
            if (msg.error === 0)
                p.resolve(msg.result);
            else
                p.reject(new ApiError(msg.error, typeof msg.message === "string" ? msg.message : "", p.method));
        }
    }
}
