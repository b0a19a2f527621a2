// The Nodes panel of a daemon in a cluster (docs/CLUSTER.md): each node's
// state, tasks, free disk, rates and last heartbeat, from cluster.status,
// read again on cluster.node and task.moved and every few seconds while
// the panel is shown; and Drain / Undrain (cluster.drain). A daemon not in
// a cluster has no panel, and the panel never calls it.

import { type Api } from "./conn.js";
import { byId, h, setAttr, setText } from "./dom.js";
import * as fmt from "./format.js";
import { confirmClick } from "./settings-page.js";
import { EV, type ApiEvent, type ClusterInfo, type ClusterNode, type ClusterStatus, type DrainResult } from "./types.js";

const POLL = 5000; // ms between cluster.status reads while shown
const TICK = 1000; // ms between redraws of "3 s ago"
const EVENT_DELAY = 200; // ms to gather the events of one change

export interface NodesDeps {
  api: Api;
  report(err: unknown, what: string): void;
  notify(msg: string): void;
  // readOnly reports a key of scope read, which may not drain.
  readOnly(): boolean;
  // listed runs after each cluster.status, with the nodes' ids.
  listed(ids: string[]): void;
}

interface NodeRow {
  tr: HTMLTableRowElement;
  state: HTMLSpanElement;
  tasks: HTMLTableCellElement;
  disk: HTMLTableCellElement;
  down: HTMLTableCellElement;
  up: HTMLTableCellElement;
  beat: HTMLTableCellElement;
  btn: HTMLButtonElement;
  // beatAt is the last heartbeat in ms since the epoch (NaN: none).
  beatAt: number;
  n: ClusterNode;
}

// ago words how long ago a time was: "3 s ago", "5 min ago", "2 h ago",
// "4 d ago". A time ahead of this browser's clock (the node's clock is
// ahead) counts as now.
export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ago`;
  return `${Math.floor(hr / 24)} d ago`;
}

const STATE_LABELS: Record<string, string> = { live: "Live", draining: "Draining", down: "Down" };

export class NodesPanel {
  // cluster is server.info's, null for a daemon not in a cluster.
  private cluster: ClusterInfo | null = null;
  private readonly pane = byId("nodes");
  private readonly button = byId<HTMLButtonElement>("btn-nodes");
  private readonly body = byId("nodes-body");
  private readonly rows = new Map<string, NodeRow>();
  private poll: ReturnType<typeof setInterval> | undefined;
  private tick: ReturnType<typeof setInterval> | undefined;
  private soon: ReturnType<typeof setTimeout> | undefined;
  private busy = false;
  private again = false;

  constructor(private readonly d: NodesDeps) {
    this.button.addEventListener("click", () => (this.shown ? this.close() : this.open()));
    byId("nodes-close").addEventListener("click", () => this.close());
    this.body.addEventListener("click", (e) => {
      const b = (e.target as Element).closest<HTMLButtonElement>("button[data-node]");
      if (b) void this.drain(b);
    });
    document.addEventListener("visibilitychange", () => {
      if (this.shown && document.visibilityState === "visible") void this.refresh();
    });
  }

  get shown(): boolean {
    return !this.pane.hidden;
  }

  // setCluster is called with server.info's cluster at each login (null:
  // not in a cluster, or logged out).
  setCluster(c: ClusterInfo | null): void {
    this.cluster = c;
    this.button.hidden = c === null;
    if (c === null) {
      this.close();
      this.rows.clear();
      this.body.replaceChildren();
      setText(byId("nodes-summary"), "");
    }
  }

  open(): void {
    if (!this.cluster) return;
    this.pane.hidden = false;
    setAttr(this.button, "aria-expanded", "true");
    this.poll ??= setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh();
    }, POLL);
    this.tick ??= setInterval(() => this.drawBeats(), TICK);
    void this.refresh();
  }

  close(): void {
    this.pane.hidden = true;
    setAttr(this.button, "aria-expanded", "false");
    clearInterval(this.poll);
    clearInterval(this.tick);
    clearTimeout(this.soon);
    this.poll = this.tick = this.soon = undefined;
  }

  // event takes every event; a node's change or a task moved between
  // nodes reads the status again (soon: one read for a burst).
  event(ev: ApiEvent): void {
    if (ev.name !== EV.clusterNode && ev.name !== EV.moved) return;
    if (!this.cluster || !this.shown) return;
    this.soon ??= setTimeout(() => {
      this.soon = undefined;
      void this.refresh();
    }, EVENT_DELAY);
  }

  // reconnected reads the status again after the connection came back
  // (events may have been missed).
  reconnected(): void {
    if (this.cluster && this.shown) void this.refresh();
  }

  // refresh reads cluster.status; a read asked for while one is on its
  // way runs after it.
  async refresh(): Promise<void> {
    if (!this.cluster) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      const st = await this.d.api.call<ClusterStatus>("cluster.status");
      this.note("");
      this.draw(st);
    } catch (e) {
      // Shown in the panel, not as a notice: it is read every 5 s.
      this.note(e instanceof Error ? `Reading the cluster's status failed: ${e.message}` : String(e));
    } finally {
      this.busy = false;
    }
    if (this.again) {
      this.again = false;
      void this.refresh();
    }
  }

  private note(msg: string): void {
    const el = byId("nodes-note");
    el.hidden = msg === "";
    setText(el, msg);
  }

  private draw(st: ClusterStatus): void {
    const nodes = Array.isArray(st.nodes) ? st.nodes : [];
    const parts = [`Cluster “${st.name ?? this.cluster?.name ?? ""}”`, `${nodes.length} node${nodes.length === 1 ? "" : "s"}`, `${st.tasks.toLocaleString()} task${st.tasks === 1 ? "" : "s"}`];
    if (st.failover_seconds > 0) parts.push(`failover after ${fmt.duration(st.failover_seconds)}`);
    setText(byId("nodes-summary"), parts.join(" · "));
    const warn = byId("nodes-offline");
    warn.hidden = st.connected;
    const keep = new Set<string>();
    let prev: Element | null = null;
    for (const n of nodes) {
      keep.add(n.id);
      let r = this.rows.get(n.id);
      if (!r) {
        r = this.makeRow(n);
        this.rows.set(n.id, r);
      }
      this.fill(r, n);
      // Move a row only when out of place (a moved button loses focus).
      const want: Element | null = prev ? prev.nextElementSibling : this.body.firstElementChild;
      if (want !== r.tr) {
        if (prev) prev.after(r.tr);
        else this.body.prepend(r.tr);
      }
      prev = r.tr;
    }
    for (const [id, r] of this.rows) {
      if (keep.has(id)) continue;
      r.tr.remove();
      this.rows.delete(id);
    }
    const empty = byId("nodes-empty");
    empty.hidden = nodes.length > 0;
    this.d.listed(nodes.map((n) => n.id));
  }

  private makeRow(n: ClusterNode): NodeRow {
    const state = h("span", { class: "node-state" });
    const num = () => h("td", { class: "num" });
    const tasks = num();
    const disk = num();
    const down = num();
    const up = num();
    const beat = h("td", { class: "beat" });
    const btn = h("button", { type: "button", class: "small", "data-node": n.id });
    const self = n.id === this.cluster?.node;
    const tr = h(
      "tr",
      { "data-node": n.id },
      h("th", { scope: "row", class: "node-id" }, n.id, self ? h("span", { class: "muted" }, " (this node)") : null),
      h("td", null, state),
      tasks, disk, down, up, beat,
      h("td", { class: "actions" }, btn),
    );
    return { tr, state, tasks, disk, down, up, beat, btn, beatAt: NaN, n };
  }

  private fill(r: NodeRow, n: ClusterNode): void {
    r.n = n;
    r.tr.dataset["state"] = n.state;
    r.tr.dataset["tasks"] = String(n.tasks);
    setText(r.state, STATE_LABELS[n.state] ?? n.state);
    r.state.className = `node-state n-${n.state}`;
    setText(r.tasks, n.max_tasks > 0 ? `${n.tasks.toLocaleString()} / ${n.max_tasks.toLocaleString()}` : n.tasks.toLocaleString());
    setAttr(r.tasks, "title", n.max_tasks > 0 ? `at most ${n.max_tasks} (--max-tasks)` : "no limit (--max-tasks)");
    // A node that is down sends no heartbeat, so none of its numbers.
    const down = n.state === "down" && !n.last_heartbeat;
    setText(r.disk, down ? "—" : fmt.size(n.free_disk));
    setText(r.down, down ? "—" : fmt.rate(n.download_rate));
    setText(r.up, down ? "—" : fmt.rate(n.upload_rate));
    r.down.classList.toggle("zero", n.download_rate <= 0);
    r.up.classList.toggle("zero", n.upload_rate <= 0);
    r.beatAt = n.last_heartbeat ? Date.parse(n.last_heartbeat) : NaN;
    setAttr(r.beat, "title", n.last_heartbeat ? fmt.date(n.last_heartbeat, true) : null);
    this.drawBeat(r, Date.now());
    // An armed button ("Drain?") keeps its question until clicked again
    // or timed out.
    if (r.btn.dataset["armed"] !== "1") setText(r.btn, n.state === "draining" ? "Undrain" : "Drain");
    setAttr(r.btn, "aria-label", `${n.state === "draining" ? "Undrain" : "Drain"} ${n.id}`);
    r.btn.disabled = this.d.readOnly();
    setAttr(r.btn, "title", this.d.readOnly() ? "This API key may only read" : n.state === "draining" ? "Place new tasks on this node again" : "Move this node's tasks to the others and place no new ones on it");
  }

  private drawBeat(r: NodeRow, now: number): void {
    setText(r.beat, Number.isNaN(r.beatAt) ? "—" : ago(r.beatAt, now));
  }

  private drawBeats(): void {
    const now = Date.now();
    for (const r of this.rows.values()) this.drawBeat(r, now);
  }

  // drain sets or clears a node's drain flag (the button's node): draining
  // asks first, since it moves every task of the node.
  private async drain(b: HTMLButtonElement): Promise<void> {
    const id = b.dataset["node"] ?? "";
    const r = this.rows.get(id);
    if (!r) return;
    const on = r.n.state !== "draining";
    if (on && !confirmClick(b, "Drain?")) return;
    b.classList.remove("armed");
    b.disabled = true;
    try {
      const res = await this.d.api.call<DrainResult>("cluster.drain", { node: id, drain: on });
      this.d.notify(res.draining ? `Draining ${id}: ${res.moving.toLocaleString()} task${res.moving === 1 ? "" : "s"} to move to other nodes.` : `${id} takes new tasks again.`);
      if (r.n.state !== "down") this.fill(r, { ...r.n, state: res.draining ? "draining" : "live" });
    } catch (e) {
      this.d.report(e, `${on ? "Drain" : "Undrain"} ${id}`);
    } finally {
      b.disabled = this.d.readOnly();
      setText(b, r.n.state === "draining" ? "Undrain" : "Drain");
    }
    void this.refresh();
  }
}
