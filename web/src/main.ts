// Lodestone's web UI: logs in with the API token, keeps the task table
// current from WebSocket events (never by polling), and drives the daemon
// through the public API only (docs/API.md).

import { AddDialog } from "./add.js";
import { ApiError, Conn, Disconnected, idAbove, type Api, type ConnStatus } from "./conn.js";
import { Detail, type Alert } from "./detail.js";
import { byId, h, setAttr, setText } from "./dom.js";
import * as fmt from "./format.js";
import { RateGraph } from "./graph.js";
import { NodesPanel } from "./nodes.js";
import { SettingsDialog } from "./settings.js";
import { TaskTable } from "./table.js";
import { NO_LABEL, STATE_FILTERS, TaskStore, type StateFilter } from "./tasks.js";
import { errorText, reportError, toast } from "./toast.js";
import {
  EV, OPTIONAL_EVENTS, type ApiEvent, type BulkResult, type Category, type ClusterInfo, type ServerInfo, type SessionStats,
  type Settings, type Task, type TaskMoved, type TaskProgress, type TaskState,
} from "./types.js";

const TOKEN_KEY = "lodestone.token";
const ALL_EVENTS = Object.values(EV);
const MAX_ALERTS = 20; // kept per task
const REFRESH_DELAY = 100; // ms to gather task.get refreshes
const LIST_INSTEAD = 40; // more refreshes than this: one task.list
const STALE_RATE = 3000; // ms without task.progress after which rates are 0
const MAX_BULK_ERRORS = 3; // per-task failures named in a bulk action's notice
const MOVING = 30_000; // ms after task.moved during which task_not_found means "not adopted yet"
const MOVING_RETRY = 1000; // ms between reads of a task on its way to its new node

const FILTER_NAMES: Record<StateFilter, string> = {
  all: "All", active: "Active", downloading: "Downloading", seeding: "Seeding",
  completed: "Completed", paused: "Paused", queued: "Queued", checking: "Checking",
  metadata: "Fetching metadata", finished: "Finished", error: "Error",
};

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

class App implements Api {
  private readonly store = new TaskStore();
  private conn: Conn | null = null;
  private token = "";
  private readonly table: TaskTable;
  private readonly detail: Detail;
  private readonly add: AddDialog;
  private readonly settingsDlg: SettingsDialog;
  private readonly graph: RateGraph;
  private readonly nodes: NodesPanel;
  // cluster is server.info's: the cluster and this node, null for a
  // daemon not in a cluster (no Node column, no Nodes panel).
  private cluster: ClusterInfo | null = null;
  // statusNodes are the nodes the last cluster.status listed (the node
  // filter offers them beside the nodes tasks are on).
  private statusNodes: string[] = [];
  private readonly alerts = new Map<string, Alert[]>();
  private settings: Settings | null = null;
  // events are the names subscribed to: every one the UI knows that the
  // daemon knows too (an older one refuses a subscription to the others).
  private events: string[] = [...ALL_EVENTS];
  // readOnly: logged in with a key of scope read (server.info), which may
  // not act on tasks: the actions are disabled rather than refused.
  private readOnly = false;
  private infoId = "0";
  private loading = false;
  // listed: the first task.list of this login has arrived. Until then the
  // table says it is loading, not "No tasks yet.".
  private listed = false;
  private readonly touched = new Set<string>();
  private readonly refreshIds = new Set<string>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly removedAt = new Map<string, number>();
  // movedAt is when each task's last task.moved arrived.
  private readonly movedAt = new Map<string, number>();
  private frame = 0;
  private countsDirty = true;
  private countsAt = 0;
  private countsTimer: ReturnType<typeof setTimeout> | undefined;
  // lastProgress is when each task's last task.progress arrived.
  private readonly lastProgress = new Map<string, number>();

  constructor() {
    const schedule = () => this.schedule();
    const report = (e: unknown, what: string) => reportError(e, what);
    const notify = (m: string) => toast(m);
    this.table = new TaskTable(this.store, byId("grid"), byId("tbody"), byId("spacer"), byId("thead"), {
      open: (id) => {
        this.fillDirs();
        this.detail.open(id);
      },
      selectionChanged: () => this.updateToolbar(),
      remove: () => this.openRemove(),
    }, schedule);
    this.detail = new Detail({
      api: this, store: this.store, report, notify,
      alerts: (id) => this.alerts.get(id) ?? [],
      closed: () => byId("grid").focus(),
    });
    this.add = new AddDialog({
      api: this, store: this.store, report, notify,
      defaultDir: () => this.settings?.download_dir ?? "",
    });
    this.settingsDlg = new SettingsDialog({
      api: this, report, notify,
      saved: (s) => (this.settings = s),
      eventNames: () => this.events,
    });
    this.graph = new RateGraph(byId<HTMLCanvasElement>("rate-graph"), byId("graph-idle"));
    this.nodes = new NodesPanel({
      api: this, report, notify,
      readOnly: () => this.readOnly,
      listed: (ids) => {
        this.statusNodes = ids;
        this.updateNodes();
      },
    });
    this.wire();
  }

  call<T>(method: string, params?: object): Promise<T> {
    if (!this.conn) return Promise.reject(new Error("not logged in"));
    return this.conn.call<T>(method, params);
  }

  // --- Login and connection ---

  start(): void {
    const url = new URL(location.href);
    const fromURL = url.searchParams.get("token");
    if (fromURL !== null) {
      // Keep it, and take it out of the address bar and history.
      if (fromURL) storage()?.setItem(TOKEN_KEY, fromURL);
      url.searchParams.delete("token");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    }
    const token = storage()?.getItem(TOKEN_KEY) ?? "";
    if (token) this.connect(token);
    else this.showLogin("");
  }

  private connect(token: string): void {
    this.conn?.close();
    this.token = token;
    const conn = new Conn(token, {
      event: (ev) => this.onEvent(ev),
      open: (again) => void this.onOpen(again),
      status: (s, detail) => this.onStatus(s, detail),
    });
    this.conn = conn;
    setText(byId("conn-status"), "Connecting…");
    conn.start();
  }

  private showLogin(err: string): void {
    byId("app").hidden = true;
    byId("login").hidden = false;
    const e = byId("login-error");
    e.hidden = err === "";
    setText(e, err);
    byId<HTMLButtonElement>("login-submit").disabled = false;
    byId<HTMLInputElement>("login-token").focus();
  }

  private showApp(): void {
    byId("login").hidden = true;
    if (byId("app").hidden) {
      byId("app").hidden = false;
      byId<HTMLInputElement>("login-token").value = "";
      this.graph.draw(); // its baseline, before the first sample
      byId("grid").focus();
    }
  }

  private onStatus(s: ConnStatus, detail: string): void {
    const el = byId("conn-status");
    el.className = `conn ${s}`;
    switch (s) {
      case "open":
        setText(el, "");
        break;
      case "connecting":
        setText(el, detail ? `Connecting… (${detail})` : "Connecting…");
        break;
      case "reconnecting":
        setText(el, `Connection lost — reconnecting…${detail ? ` (${detail})` : ""}`);
        break;
      case "waiting":
        // The token is kept and tried again after the wait; before the
        // first login the notice goes where the login form is.
        setText(el, detail);
        if (byId("app").hidden) this.showLogin(detail);
        break;
      case "refused":
        this.logout(detail);
        break;
    }
  }

  private async onOpen(again: boolean): Promise<void> {
    storage()?.setItem(TOKEN_KEY, this.token);
    this.showApp();
    const conn = this.conn;
    if (!conn) return;
    try {
      if (again) {
        // Restore the subscription and catch up (docs/API.md §9): both
        // run in the order sent.
        const after = idAbove(conn.lastId, this.infoId) ? conn.lastId : this.infoId;
        const sub = this.subscribe();
        const replay = this.call<{ replayed: number; complete: boolean }>("events.replay", { after });
        await sub;
        if (!(await replay).complete) await this.loadAll();
        this.nodes.reconnected();
      } else {
        this.loading = true;
        const sub = this.subscribe();
        const [info, list] = await Promise.all([
          this.call<ServerInfo>("server.info"),
          this.call<{ tasks: Task[] }>("task.list"),
          sub,
        ]);
        this.infoId = info.last_event_id;
        this.settingsDlg.setScope(info.scope);
        this.readOnly = info.scope === "read";
        byId("btn-add").toggleAttribute("disabled", this.readOnly);
        this.setCluster(info.cluster ?? null);
        setAttr(byId("btn-add"), "title", this.readOnly ? "This API key may only read" : null);
        this.fresh(list.tasks);
        this.store.replaceAll(list.tasks);
        this.listed = true;
        this.store.changed = true;
        this.loading = false;
        // Tasks events spoke of while the list was on its way.
        for (const id of this.touched) this.queueRefresh(id);
        this.touched.clear();
      }
      this.countsDirty = true;
      this.schedule();
      if (this.refreshIds.size > 0) void this.flushRefresh();
      const [settings, stats, cats] = await Promise.all([
        this.call<Settings>("session.get"),
        this.call<SessionStats>("session.stats"),
        this.call<{ categories: Category[] }>("category.list"),
      ]);
      this.settings = settings;
      this.setCategories(cats.categories);
      this.onStats(stats, false);
    } catch (e) {
      this.loading = false;
      reportError(e, "Load the tasks");
    }
  }

  // subscribe subscribes to this.events; a name the daemon does not know
  // (103 naming an optional event, such as rss.item_added on a daemon
  // without RSS) is dropped and the rest subscribed to again.
  private async subscribe(): Promise<void> {
    for (;;) {
      try {
        const r = await this.call<{ names: string[] }>("events.subscribe", { names: this.events });
        if (Array.isArray(r.names)) this.events = r.names;
        return;
      } catch (e) {
        const bad = e instanceof ApiError && e.code === 103 ? this.events.find((n) => OPTIONAL_EVENTS.has(n) && e.detail.includes(`"${n}"`)) : undefined;
        if (bad === undefined) throw e;
        this.events = this.events.filter((n) => n !== bad);
      }
    }
  }

  private logout(err: string): void {
    this.conn?.close();
    this.conn = null;
    storage()?.removeItem(TOKEN_KEY);
    // The session cookie is HttpOnly: only the daemon can expire it.
    fetch("/session", { method: "DELETE", cache: "no-store" }).catch(() => undefined);
    this.store.clear();
    this.alerts.clear();
    this.refreshIds.clear();
    this.movedAt.clear();
    this.lastProgress.clear();
    this.detail.close();
    this.graph.clear();
    this.listed = false;
    byId("disk").hidden = true;
    this.setCluster(null);
    this.infoId = "0";
    this.schedule();
    this.showLogin(err);
  }

  private async loadAll(): Promise<void> {
    const asked = performance.now();
    const list = await this.call<{ tasks: Task[] }>("task.list");
    this.fresh(list.tasks);
    this.store.replaceAll(list.tasks.filter((t) => !this.goneSince(t.task_id, asked)));
    this.countsDirty = true;
    this.schedule();
  }

  // fresh notes that the rates of tasks just read are current.
  private fresh(tasks: Task[]): void {
    const now = performance.now();
    for (const t of tasks) this.lastProgress.set(t.task_id, now);
  }

  // moving reports a task moved to another node lately (task.moved), which
  // that node may not have taken up yet.
  private moving(id: string): boolean {
    const at = this.movedAt.get(id);
    if (at === undefined) return false;
    if (performance.now() - at < MOVING) return true;
    this.movedAt.delete(id);
    return false;
  }

  // goneSince reports a task removed after a request made at time t (its
  // answer may still hold the task).
  private goneSince(id: string, t: number): boolean {
    return (this.removedAt.get(id) ?? -1) >= t;
  }

  // --- Events ---

  private onEvent(ev: ApiEvent): void {
    const d = (ev.data ?? {}) as Record<string, unknown>;
    const id = typeof d["task_id"] === "string" ? d["task_id"] : "";
    if (this.loading && id) this.touched.add(id);
    const s = this.store;
    switch (ev.name) {
      case EV.progress: {
        const p = d as unknown as TaskProgress;
        this.lastProgress.set(id, performance.now());
        const was = s.get(id)?.state;
        if (s.progress(p)) {
          if (was !== p.state) this.countsDirty = true;
          this.detail.changed(id);
        }
        break;
      }
      case EV.stats:
        this.onStats(d as unknown as SessionStats, true);
        return;
      case EV.added:
        this.removedAt.delete(id);
        if (!s.has(id)) {
          const size = typeof d["size"] === "number" ? d["size"] : 0;
          s.put({
            task_id: id, name: typeof d["name"] === "string" ? d["name"] : id, size, completed: 0,
            state: size > 0 ? "checking" : "metadata", added_at: new Date().toISOString(),
            download_rate: 0, upload_rate: 0, peers: 0, downloaded: 0, uploaded: 0, ratio: 0,
            eta_seconds: -1, pieces: 0, piece_size: 0, labels: [], category: "", download_dir: "",
            sequential: false, download_rate_limit: 0, upload_rate_limit: 0, private: false,
            seconds_downloading: 0, seconds_seeding: 0, queue_position: 0,
            seed_ratio_limit: -2, seed_time_limit: -2, seed_idle_limit: -2,
          });
        }
        this.countsDirty = true;
        this.queueRefresh(id);
        break;
      case EV.metadata:
        s.patch(id, { name: String(d["name"] ?? ""), size: Number(d["size"] ?? 0) });
        this.queueRefresh(id);
        this.detail.changed(id, true);
        this.add.changed(ev.name, id);
        break;
      case EV.state: {
        const to = d["to"] as TaskState;
        s.patch(id, { state: to, error: to === "error" ? String(d["error"] ?? "") : undefined });
        this.countsDirty = true;
        this.queueRefresh(id);
        this.detail.changed(id, true);
        break;
      }
      case EV.changed: {
        // A request changed the task's settings: the event carries it whole.
        const t = d["task"] as Task | undefined;
        if (t && typeof t === "object" && t.task_id === id && s.has(id)) s.put(t);
        this.detail.changed(id, true);
        break;
      }
      case EV.categories:
        this.setCategories(Array.isArray(d["categories"]) ? (d["categories"] as Category[]) : []);
        break;
      case EV.rssItem: {
        const title = typeof d["title"] === "string" ? d["title"] : "";
        toast(`RSS rule ${String(d["rule"] ?? "")} added ${title}`);
        break;
      }
      case EV.finished: {
        const t = s.get(id);
        if (t) toast(`Finished: ${t.name}`);
        this.queueRefresh(id);
        this.detail.changed(id, true);
        break;
      }
      case EV.error: {
        const msg = String(d["error"] ?? "");
        const t = s.get(id);
        s.patch(id, { state: "error", error: msg });
        toast(`${t ? t.name : id}: ${msg}`, "error");
        this.countsDirty = true;
        break;
      }
      case EV.removed:
        this.removedAt.set(id, performance.now());
        this.movedAt.delete(id);
        this.lastProgress.delete(id);
        s.remove(id);
        this.alerts.delete(id);
        if (this.detail.id === id) this.detail.close();
        this.add.changed(ev.name, id);
        this.countsDirty = true;
        break;
      case EV.moved: {
        // Its node died or was drained: it starts again on another one.
        const m = d as unknown as TaskMoved;
        this.movedAt.set(id, performance.now());
        s.patch(id, { node: m.to });
        const why = m.reason === "node_down" ? "node down" : m.reason === "drained" ? "drained" : m.reason;
        toast(`Task ${s.get(id)?.name ?? id} moved from ${m.from} to ${m.to}${why ? ` (${why})` : ""}`);
        this.queueRefresh(id);
        this.detail.changed(id, true);
        break;
      }
      case EV.alert: {
        const level = typeof d["level"] === "string" ? d["level"] : "warning";
        const message = String(d["message"] ?? "");
        if (id) {
          const list = this.alerts.get(id) ?? [];
          list.push({ at: Date.now(), level, message });
          if (list.length > MAX_ALERTS) list.shift();
          this.alerts.set(id, list);
          s.changed = true;
          this.detail.changed(id);
        }
        // Warnings (a failing tracker…) stay in the task's detail pane.
        if (level === "error" || !id) toast(id && s.get(id) ? `${s.get(id)!.name}: ${message}` : message, level === "error" ? "error" : "info");
        break;
      }
    }
    this.nodes.event(ev);
    this.settingsDlg.event(ev);
    this.schedule();
  }

  private onStats(st: SessionStats, sample: boolean): void {
    setText(byId("rate-down"), fmt.rate(st.download_rate));
    setText(byId("rate-up"), fmt.rate(st.upload_rate));
    setText(byId("free-disk"), st.free_disk_bytes >= 0 ? fmt.size(st.free_disk_bytes) : "?");
    byId("disk").hidden = false;
    if (sample) this.graph.push(st.download_rate, st.upload_rate);
    const active = st.download_rate > 0 || st.upload_rate > 0;
    const title = active ? `↓ ${fmt.rate(st.download_rate)} ↑ ${fmt.rate(st.upload_rate)} · Lodestone` : "Lodestone";
    if (document.title !== title) document.title = title;
  }

  // queueRefresh re-reads a task soon (task.get; many at once: task.list).
  private queueRefresh(id: string): void {
    if (!id) return;
    this.refreshIds.add(id);
    if (this.refreshTimer === undefined) this.refreshTimer = setTimeout(() => void this.flushRefresh(), REFRESH_DELAY);
  }

  private async flushRefresh(): Promise<void> {
    this.refreshTimer = undefined;
    if (this.loading) {
      this.refreshTimer = setTimeout(() => void this.flushRefresh(), REFRESH_DELAY);
      return;
    }
    // Not connected: kept for the next connection (onOpen flushes).
    if (this.refreshIds.size === 0 || !this.conn?.open) return;
    const ids = [...this.refreshIds];
    this.refreshIds.clear();
    if (ids.length > LIST_INSTEAD) {
      try {
        await this.loadAll();
      } catch (e) {
        reportError(e, "Reload the tasks");
      }
      return;
    }
    const asked = performance.now();
    await Promise.all(ids.map(async (id) => {
      try {
        const t = await this.call<Task>("task.get", { task_id: id });
        if (!this.goneSince(id, asked)) {
          this.fresh([t]);
          this.store.put(t);
        }
      } catch (e) {
        // Gone: the task.removed event is on its way, or was missed. Or,
        // just moved to another node, not yet started there: read again.
        if (e instanceof ApiError && e.code === 202 && this.moving(id)) setTimeout(() => this.queueRefresh(id), MOVING_RETRY);
        else if (e instanceof ApiError && e.code === 202) this.store.remove(id);
        else if (e instanceof ApiError) reportError(e, `Read ${this.store.get(id)?.name ?? id}`);
        else if (e instanceof Disconnected) this.refreshIds.add(id); // after reconnecting
      }
    }));
    this.countsDirty = true;
    this.schedule();
  }

  // --- Drawing ---

  private schedule(): void {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.render());
  }

  private render(): void {
    this.frame = 0;
    const s = this.store;
    if (s.viewDirty) s.computeView();
    const changed = s.changed;
    s.changed = false;
    this.table.render();
    if (changed) {
      this.updateToolbar();
      const empty = s.view.length === 0;
      byId("empty").hidden = !empty;
      setText(byId("empty-text"), !this.listed ? "Loading tasks…" : s.size === 0 ? "No tasks yet." : "No task matches the filter.");
      byId("empty-hint").hidden = !this.listed || s.size > 0;
      setText(byId("count"), !this.listed ? "Loading…" : s.view.length === s.size ? `${s.size.toLocaleString()} task${s.size === 1 ? "" : "s"}` : `${s.view.length.toLocaleString()} of ${s.size.toLocaleString()} tasks`);
    }
    if (s.labelsDirty) this.updateLabels();
    if (s.nodesDirty && this.cluster) this.updateNodes();
    if (this.countsDirty) this.updateCounts();
    this.detail.render();
  }

  private updateCounts(): void {
    const now = performance.now();
    if (now - this.countsAt < 500) {
      this.countsTimer ??= setTimeout(() => {
        this.countsTimer = undefined;
        this.schedule();
      }, 500);
      return;
    }
    this.countsAt = now;
    this.countsDirty = false;
    const counts = this.store.stateCounts();
    const sel = byId<HTMLSelectElement>("filter-state");
    for (const opt of sel.options) {
      const f = opt.value as StateFilter;
      setText(opt, `${FILTER_NAMES[f]} (${(counts.get(f) ?? 0).toLocaleString()})`);
    }
    const parts: string[] = [];
    for (const f of ["downloading", "seeding", "paused", "queued", "error"] as const) {
      const n = counts.get(f) ?? 0;
      if (n > 0) parts.push(`${n.toLocaleString()} ${FILTER_NAMES[f].toLowerCase()}`);
    }
    setText(byId("state-summary"), parts.join(" · "));
  }

  // setCategories offers the categories in the add form's and the detail
  // pane's menus, keeping what each has selected while it still exists.
  private setCategories(cats: Category[]): void {
    for (const id of ["add-category", "d-category"]) {
      const sel = byId<HTMLSelectElement>(id);
      const cur = sel.value;
      sel.replaceChildren(
        h("option", { value: "" }, "(none)"),
        ...cats.map((c) => h("option", { value: c.name, title: c.save_path || "the default download dir" }, c.name)),
      );
      sel.value = cats.some((c) => c.name === cur) ? cur : "";
    }
    this.settingsDlg.setCategories(cats);
  }

  private updateLabels(): void {
    const sel = byId<HTMLSelectElement>("filter-label");
    const cur = sel.value;
    const labels = this.store.labels();
    sel.replaceChildren(
      h("option", { value: "" }, "All labels"),
      h("option", { value: NO_LABEL }, "No label"),
      ...labels.map((l) => h("option", { value: l }, l)),
    );
    sel.value = labels.includes(cur) || cur === NO_LABEL ? cur : "";
    if (sel.value !== cur) this.applyFilter();
  }

  // setCluster shows what a daemon in a cluster has (the Node column and
  // filter, the Nodes panel), or hides it (null).
  private setCluster(c: ClusterInfo | null): void {
    this.cluster = c;
    this.statusNodes = [];
    byId("app").classList.toggle("clustered", c !== null);
    this.nodes.setCluster(c);
    this.store.nodesDirty = true;
    if (c === null && byId<HTMLSelectElement>("filter-node").value !== "") {
      byId<HTMLSelectElement>("filter-node").value = "";
      this.applyFilter();
    }
  }

  // updateNodes offers in the node filter every node tasks are on or the
  // cluster lists, keeping the one chosen.
  private updateNodes(): void {
    const sel = byId<HTMLSelectElement>("filter-node");
    const cur = sel.value;
    const ids = [...new Set([...this.store.nodes(), ...this.statusNodes])].sort();
    if (cur && !ids.includes(cur)) ids.push(cur); // chosen: kept while it has no task
    const have = [...sel.options].map((o) => o.value).join("\u0000");
    if (have === ["", ...ids].join("\u0000")) return;
    sel.replaceChildren(h("option", { value: "" }, "All nodes"), ...ids.map((n) => h("option", { value: n }, n)));
    sel.value = cur;
  }

  private updateToolbar(): void {
    const s = this.store;
    // Forget selected tasks that are gone.
    for (const id of s.selected) if (!s.has(id)) s.selected.delete(id);
    const n = s.selected.size;
    for (const b of ["btn-resume", "btn-pause", "btn-recheck", "btn-remove"]) byId<HTMLButtonElement>(b).disabled = n === 0 || this.readOnly;
    for (const b of ["btn-pause-all", "btn-resume-all"]) byId<HTMLButtonElement>(b).disabled = s.size === 0 || this.readOnly;
    setText(byId("sel-count"), n > 0 ? `${n.toLocaleString()} selected` : "");
  }

  private fillDirs(): void {
    const dirs = this.store.dirs();
    if (this.settings?.download_dir && !dirs.includes(this.settings.download_dir)) dirs.unshift(this.settings.download_dir);
    byId("dirs").replaceChildren(...dirs.map((d) => h("option", { value: d })));
  }

  // --- Actions ---

  // bulk acts on the selected tasks (or on all, with all set) in one call
  // with select (docs/API.md, "Bulk calls"), and reports each task that
  // failed with the daemon's reason.
  private async bulk(method: string, extra: object, what: string, all = false): Promise<void> {
    const ids = [...this.store.selected];
    if (!all && ids.length === 0) return;
    // Names as the user saw them: a task may be gone by the answer.
    const names = new Map(ids.map((id) => [id, this.store.get(id)?.name ?? id]));
    const name = (id: string) => names.get(id) ?? this.store.get(id)?.name ?? id;
    let res: BulkResult;
    try {
      res = await this.call<BulkResult>(method, { ...extra, select: all ? { all: true } : { task_ids: ids } });
    } catch (e) {
      reportError(e, all ? `${what} all tasks` : ids.length === 1 ? `${what} ${name(ids[0]!)}` : `${what} ${ids.length} tasks`);
      return;
    }
    const results = Array.isArray(res.results) ? res.results : [];
    const failed = results.filter((r) => r.error !== 0);
    if (failed.length === 0) return;
    const why = failed.map((r) => errorText(new ApiError(r.error, r.message ?? "", method), `${what} ${name(r.task_id)}`));
    if (failed.length === 1) {
      toast(why[0]!, "error");
      return;
    }
    const shown = why.slice(0, MAX_BULK_ERRORS);
    const more = failed.length > shown.length ? `; and ${failed.length - shown.length} more` : "";
    toast(`${failed.length} of ${results.length} tasks failed: ${shown.join("; ")}${more}`, "error");
  }

  private openRemove(): void {
    const ids = [...this.store.selected];
    if (ids.length === 0) return;
    const names = ids.slice(0, 5).map((id) => this.store.get(id)?.name ?? id);
    const what = byId("remove-what");
    what.replaceChildren(
      ids.length === 1 ? "Remove this task?" : `Remove these ${ids.length.toLocaleString()} tasks?`,
      h("ul", null, ...names.map((n) => h("li", null, n)), ids.length > 5 ? h("li", null, `…and ${ids.length - 5} more`) : null),
    );
    const box = byId<HTMLInputElement>("remove-data");
    box.checked = false;
    this.syncRemove();
    byId<HTMLDialogElement>("dlg-remove").showModal();
    byId("remove-cancel").focus();
  }

  private syncRemove(): void {
    const del = byId<HTMLInputElement>("remove-data").checked;
    byId("remove-warn").hidden = !del;
    setText(byId("remove-ok"), del ? "Remove and delete data" : "Remove");
  }

  private applyFilter(): void {
    this.store.setFilter(
      byId<HTMLInputElement>("filter-text").value,
      byId<HTMLSelectElement>("filter-state").value as StateFilter,
      byId<HTMLSelectElement>("filter-label").value,
      byId<HTMLSelectElement>("filter-node").value,
    );
    this.schedule();
  }

  private wire(): void {
    byId("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const token = byId<HTMLInputElement>("login-token").value.trim();
      if (!token) return;
      byId<HTMLButtonElement>("login-submit").disabled = true;
      byId("login-error").hidden = true;
      this.connect(token);
    });
    byId("btn-logout").addEventListener("click", () => this.logout(""));
    byId("btn-settings").addEventListener("click", () => {
      this.fillDirs();
      void this.settingsDlg.open();
    });
    byId("btn-add").addEventListener("click", () => {
      this.fillDirs();
      this.add.open();
    });
    byId("btn-resume").addEventListener("click", () => void this.bulk("task.resume", {}, "Resume"));
    byId("btn-pause").addEventListener("click", () => void this.bulk("task.pause", {}, "Pause"));
    byId("btn-recheck").addEventListener("click", () => void this.bulk("task.recheck", {}, "Verify"));
    byId("btn-pause-all").addEventListener("click", () => void this.bulk("task.pause", {}, "Pause", true));
    byId("btn-resume-all").addEventListener("click", () => void this.bulk("task.resume", {}, "Resume", true));
    byId("btn-remove").addEventListener("click", () => this.openRemove());
    byId("remove-data").addEventListener("change", () => this.syncRemove());
    byId("remove-cancel").addEventListener("click", () => byId<HTMLDialogElement>("dlg-remove").close());
    byId("remove-form").addEventListener("submit", (e) => {
      e.preventDefault();
      byId<HTMLDialogElement>("dlg-remove").close();
      void this.bulk("task.remove", { delete_data: byId<HTMLInputElement>("remove-data").checked }, "Remove");
    });
    byId<HTMLInputElement>("sel-all").addEventListener("change", (e) => this.table.selectAll((e.target as HTMLInputElement).checked));

    const fs = byId<HTMLSelectElement>("filter-state");
    fs.replaceChildren(...STATE_FILTERS.map((f) => h("option", { value: f }, FILTER_NAMES[f])));
    fs.addEventListener("change", () => this.applyFilter());
    byId("filter-label").addEventListener("change", () => this.applyFilter());
    byId("filter-node").addEventListener("change", () => this.applyFilter());
    byId("filter-text").addEventListener("input", () => this.applyFilter());

    // Drop .torrent files or links anywhere to add them.
    const drop = byId("drop");
    const carries = (e: DragEvent) => !!e.dataTransfer && [...e.dataTransfer.types].some((t) => t === "Files" || t === "text/uri-list" || t === "text/plain");
    document.addEventListener("dragover", (e) => {
      if (byId("app").hidden || !carries(e)) return;
      e.preventDefault();
      if (!this.add.isOpen) drop.hidden = false;
    });
    document.addEventListener("dragleave", (e) => {
      if (e.relatedTarget === null) drop.hidden = true;
    });
    document.addEventListener("drop", (e) => {
      drop.hidden = true;
      if (byId("app").hidden || !e.dataTransfer) return;
      e.preventDefault();
      this.fillDirs();
      const files = [...e.dataTransfer.files];
      this.add.open(files, files.length === 0 ? e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain") : "");
    });
    // Paste a magnet link anywhere (outside a field) to add it.
    document.addEventListener("paste", (e) => {
      if (byId("app").hidden || (e.target as Element).closest("input, textarea, select, dialog")) return;
      const text = e.clipboardData?.getData("text/plain") ?? "";
      if (/^\s*(magnet:|https?:\/\/)/i.test(text)) {
        e.preventDefault();
        this.fillDirs();
        this.add.open([], text);
      }
    });
    window.addEventListener("resize", () => this.graph.draw());
    setInterval(() => this.expireRates(), 1000);
  }

  // expireRates zeroes the rates of tasks whose snapshots stopped: the
  // daemon sends task.progress every second while a task transfers, and
  // none once it stops (paused, done, idle seed), so a rate not renewed
  // for a while is no longer true. Nothing is asked of the daemon.
  private expireRates(): void {
    const now = performance.now();
    for (const r of this.store.rows.values()) {
      const t = r.t;
      if (t.download_rate === 0 && t.upload_rate === 0) continue;
      if (now - (this.lastProgress.get(t.task_id) ?? 0) < STALE_RATE) continue;
      this.store.patch(t.task_id, { download_rate: 0, upload_rate: 0, eta_seconds: -1 });
      this.schedule();
    }
  }
}

new App().start();
