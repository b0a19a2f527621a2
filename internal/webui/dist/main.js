import { AddDialog } from "./add.js";
import { ApiError, Conn, Disconnected, idAbove } from "./conn.js";
import { Detail } from "./detail.js";
import { byId, h, setAttr, setText } from "./dom.js";
import * as fmt from "./format.js";
import { RateGraph } from "./graph.js";
import { NodesPanel } from "./nodes.js";
import { SettingsDialog } from "./settings.js";
import { TaskTable } from "./table.js";
import { NO_LABEL, STATE_FILTERS, TaskStore } from "./tasks.js";
import { errorText, reportError, toast } from "./toast.js";
import { EV, OPTIONAL_EVENTS, } from "./types.js";
const TOKEN_KEY = "lodestone.token";
const ALL_EVENTS = Object.values(EV);
const MAX_ALERTS = 20;
const REFRESH_DELAY = 100;
const LIST_INSTEAD = 40;
const STALE_RATE = 3000;
const MAX_BULK_ERRORS = 3;
const MOVING = 30_000;
const MOVING_RETRY = 1000;
const FILTER_NAMES = {
    all: "All", active: "Active", downloading: "Downloading", seeding: "Seeding",
    completed: "Completed", paused: "Paused", queued: "Queued", checking: "Checking",
    metadata: "Fetching metadata", finished: "Finished", error: "Error",
};
function storage() {
    try {
        return window.localStorage;
    }
    catch {
        return null;
    }
}
class App {
    store = new TaskStore();
    conn = null;
    token = "";
    table;
    detail;
    add;
    settingsDlg;
    graph;
    nodes;
    cluster = null;
    statusNodes = [];
    alerts = new Map();
    settings = null;
    events = [...ALL_EVENTS];
    readOnly = false;
    infoId = "0";
    loading = false;
    listed = false;
    touched = new Set();
    refreshIds = new Set();
    refreshTimer;
    removedAt = new Map();
    movedAt = new Map();
    frame = 0;
    countsDirty = true;
    countsAt = 0;
    countsTimer;
    lastProgress = new Map();
    constructor() {
        const schedule = () => this.schedule();
        const report = (e, what) => reportError(e, what);
        const notify = (m) => toast(m);
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
        this.graph = new RateGraph(byId("rate-graph"), byId("graph-idle"));
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
    call(method, params) {
        if (!this.conn)
            return Promise.reject(new Error("not logged in"));
        return this.conn.call(method, params);
    }
    start() {
        const url = new URL(location.href);
        const fromURL = url.searchParams.get("token");
        if (fromURL !== null) {
            if (fromURL)
                storage()?.setItem(TOKEN_KEY, fromURL);
            url.searchParams.delete("token");
            history.replaceState(history.state, "", url.pathname + url.search + url.hash);
        }
        const token = storage()?.getItem(TOKEN_KEY) ?? "";
        if (token)
            this.connect(token);
        else
            this.showLogin("");
    }
    connect(token) {
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
    showLogin(err) {
        byId("app").hidden = true;
        byId("login").hidden = false;
        const e = byId("login-error");
        e.hidden = err === "";
        setText(e, err);
        byId("login-submit").disabled = false;
        byId("login-token").focus();
    }
    showApp() {
        byId("login").hidden = true;
        if (byId("app").hidden) {
            byId("app").hidden = false;
            byId("login-token").value = "";
            this.graph.draw();
            byId("grid").focus();
        }
    }
    onStatus(s, detail) {
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
                setText(el, detail);
                if (byId("app").hidden)
                    this.showLogin(detail);
                break;
            case "refused":
                this.logout(detail);
                break;
        }
    }
    async onOpen(again) {
        storage()?.setItem(TOKEN_KEY, this.token);
        this.showApp();
        const conn = this.conn;
        if (!conn)
            return;
        try {
            if (again) {
                const after = idAbove(conn.lastId, this.infoId) ? conn.lastId : this.infoId;
                const sub = this.subscribe();
                const replay = this.call("events.replay", { after });
                await sub;
                if (!(await replay).complete)
                    await this.loadAll();
                this.nodes.reconnected();
            }
            else {
                this.loading = true;
                const sub = this.subscribe();
                const [info, list] = await Promise.all([
                    this.call("server.info"),
                    this.call("task.list"),
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
                for (const id of this.touched)
                    this.queueRefresh(id);
                this.touched.clear();
            }
            this.countsDirty = true;
            this.schedule();
            if (this.refreshIds.size > 0)
                void this.flushRefresh();
            const [settings, stats, cats] = await Promise.all([
                this.call("session.get"),
                this.call("session.stats"),
                this.call("category.list"),
            ]);
            this.settings = settings;
            this.setCategories(cats.categories);
            this.onStats(stats, false);
        }
        catch (e) {
            this.loading = false;
            reportError(e, "Load the tasks");
        }
    }
    async subscribe() {
        for (;;) {
            try {
                const r = await this.call("events.subscribe", { names: this.events });
                if (Array.isArray(r.names))
                    this.events = r.names;
                return;
            }
            catch (e) {
                const bad = e instanceof ApiError && e.code === 103 ? this.events.find((n) => OPTIONAL_EVENTS.has(n) && e.detail.includes(`"${n}"`)) : undefined;
                if (bad === undefined)
                    throw e;
                this.events = this.events.filter((n) => n !== bad);
            }
        }
    }
    logout(err) {
        this.conn?.close();
        this.conn = null;
        storage()?.removeItem(TOKEN_KEY);
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
    async loadAll() {
        const asked = performance.now();
        const list = await this.call("task.list");
        this.fresh(list.tasks);
        this.store.replaceAll(list.tasks.filter((t) => !this.goneSince(t.task_id, asked)));
        this.countsDirty = true;
        this.schedule();
    }
    fresh(tasks) {
        const now = performance.now();
        for (const t of tasks)
            this.lastProgress.set(t.task_id, now);
    }
    moving(id) {
        const at = this.movedAt.get(id);
        if (at === undefined)
            return false;
        if (performance.now() - at < MOVING)
            return true;
        this.movedAt.delete(id);
        return false;
    }
    goneSince(id, t) {
        return (this.removedAt.get(id) ?? -1) >= t;
    }
    onEvent(ev) {
        const d = (ev.data ?? {});
        const id = typeof d["task_id"] === "string" ? d["task_id"] : "";
        if (this.loading && id)
            this.touched.add(id);
        const s = this.store;
        switch (ev.name) {
            case EV.progress: {
                const p = d;
                this.lastProgress.set(id, performance.now());
                const was = s.get(id)?.state;
                if (s.progress(p)) {
                    if (was !== p.state)
                        this.countsDirty = true;
                    this.detail.changed(id);
                }
                break;
            }
            case EV.stats:
                this.onStats(d, true);
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
                const to = d["to"];
                s.patch(id, { state: to, error: to === "error" ? String(d["error"] ?? "") : undefined });
                this.countsDirty = true;
                this.queueRefresh(id);
                this.detail.changed(id, true);
                break;
            }
            case EV.changed: {
                const t = d["task"];
                if (t && typeof t === "object" && t.task_id === id && s.has(id))
                    s.put(t);
                this.detail.changed(id, true);
                break;
            }
            case EV.categories:
                this.setCategories(Array.isArray(d["categories"]) ? d["categories"] : []);
                break;
            case EV.rssItem: {
                const title = typeof d["title"] === "string" ? d["title"] : "";
                toast(`RSS rule ${String(d["rule"] ?? "")} added ${title}`);
                break;
            }
            case EV.finished: {
                const t = s.get(id);
                if (t)
                    toast(`Finished: ${t.name}`);
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
                if (this.detail.id === id)
                    this.detail.close();
                this.add.changed(ev.name, id);
                this.countsDirty = true;
                break;
            case EV.moved: {
                const m = d;
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
                    if (list.length > MAX_ALERTS)
                        list.shift();
                    this.alerts.set(id, list);
                    s.changed = true;
                    this.detail.changed(id);
                }
                if (level === "error" || !id)
                    toast(id && s.get(id) ? `${s.get(id).name}: ${message}` : message, level === "error" ? "error" : "info");
                break;
            }
        }
        this.nodes.event(ev);
        this.settingsDlg.event(ev);
        this.schedule();
    }
    onStats(st, sample) {
        setText(byId("rate-down"), fmt.rate(st.download_rate));
        setText(byId("rate-up"), fmt.rate(st.upload_rate));
        setText(byId("free-disk"), st.free_disk_bytes >= 0 ? fmt.size(st.free_disk_bytes) : "?");
        byId("disk").hidden = false;
        if (sample)
            this.graph.push(st.download_rate, st.upload_rate);
        const active = st.download_rate > 0 || st.upload_rate > 0;
        const title = active ? `↓ ${fmt.rate(st.download_rate)} ↑ ${fmt.rate(st.upload_rate)} · Lodestone` : "Lodestone";
        if (document.title !== title)
            document.title = title;
    }
    queueRefresh(id) {
        if (!id)
            return;
        this.refreshIds.add(id);
        if (this.refreshTimer === undefined)
            this.refreshTimer = setTimeout(() => void this.flushRefresh(), REFRESH_DELAY);
    }
    async flushRefresh() {
        this.refreshTimer = undefined;
        if (this.loading) {
            this.refreshTimer = setTimeout(() => void this.flushRefresh(), REFRESH_DELAY);
            return;
        }
        if (this.refreshIds.size === 0 || !this.conn?.open)
            return;
        const ids = [...this.refreshIds];
        this.refreshIds.clear();
        if (ids.length > LIST_INSTEAD) {
            try {
                await this.loadAll();
            }
            catch (e) {
                reportError(e, "Reload the tasks");
            }
            return;
        }
        const asked = performance.now();
        await Promise.all(ids.map(async (id) => {
            try {
                const t = await this.call("task.get", { task_id: id });
                if (!this.goneSince(id, asked)) {
                    this.fresh([t]);
                    this.store.put(t);
                }
            }
            catch (e) {
                if (e instanceof ApiError && e.code === 202 && this.moving(id))
                    setTimeout(() => this.queueRefresh(id), MOVING_RETRY);
                else if (e instanceof ApiError && e.code === 202)
                    this.store.remove(id);
                else if (e instanceof ApiError)
                    reportError(e, `Read ${this.store.get(id)?.name ?? id}`);
                else if (e instanceof Disconnected)
                    this.refreshIds.add(id);
            }
        }));
        this.countsDirty = true;
        this.schedule();
    }
    schedule() {
        if (this.frame === 0)
            this.frame = requestAnimationFrame(() => this.render());
    }
    render() {
        this.frame = 0;
        const s = this.store;
        if (s.viewDirty)
            s.computeView();
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
        if (s.labelsDirty)
            this.updateLabels();
        if (s.nodesDirty && this.cluster)
            this.updateNodes();
        if (this.countsDirty)
            this.updateCounts();
        this.detail.render();
    }
    updateCounts() {
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
        const sel = byId("filter-state");
        for (const opt of sel.options) {
            const f = opt.value;
            setText(opt, `${FILTER_NAMES[f]} (${(counts.get(f) ?? 0).toLocaleString()})`);
        }
        const parts = [];
        for (const f of ["downloading", "seeding", "paused", "queued", "error"]) {
            const n = counts.get(f) ?? 0;
            if (n > 0)
                parts.push(`${n.toLocaleString()} ${FILTER_NAMES[f].toLowerCase()}`);
        }
        setText(byId("state-summary"), parts.join(" · "));
    }
    setCategories(cats) {
        for (const id of ["add-category", "d-category"]) {
            const sel = byId(id);
            const cur = sel.value;
            sel.replaceChildren(h("option", { value: "" }, "(none)"), ...cats.map((c) => h("option", { value: c.name, title: c.save_path || "the default download dir" }, c.name)));
            sel.value = cats.some((c) => c.name === cur) ? cur : "";
        }
        this.settingsDlg.setCategories(cats);
    }
    updateLabels() {
        const sel = byId("filter-label");
        const cur = sel.value;
        const labels = this.store.labels();
        sel.replaceChildren(h("option", { value: "" }, "All labels"), h("option", { value: NO_LABEL }, "No label"), ...labels.map((l) => h("option", { value: l }, l)));
        sel.value = labels.includes(cur) || cur === NO_LABEL ? cur : "";
        if (sel.value !== cur)
            this.applyFilter();
    }
    setCluster(c) {
        this.cluster = c;
        this.statusNodes = [];
        byId("app").classList.toggle("clustered", c !== null);
        this.nodes.setCluster(c);
        this.store.nodesDirty = true;
        if (c === null && byId("filter-node").value !== "") {
            byId("filter-node").value = "";
            this.applyFilter();
        }
    }
    updateNodes() {
        const sel = byId("filter-node");
        const cur = sel.value;
        const ids = [...new Set([...this.store.nodes(), ...this.statusNodes])].sort();
        if (cur && !ids.includes(cur))
            ids.push(cur);
        const have = [...sel.options].map((o) => o.value).join("\u0000");
        if (have === ["", ...ids].join("\u0000"))
            return;
        sel.replaceChildren(h("option", { value: "" }, "All nodes"), ...ids.map((n) => h("option", { value: n }, n)));
        sel.value = cur;
    }
    updateToolbar() {
        const s = this.store;
        for (const id of s.selected)
            if (!s.has(id))
                s.selected.delete(id);
        const n = s.selected.size;
        for (const b of ["btn-resume", "btn-pause", "btn-recheck", "btn-remove"])
            byId(b).disabled = n === 0 || this.readOnly;
        for (const b of ["btn-pause-all", "btn-resume-all"])
            byId(b).disabled = s.size === 0 || this.readOnly;
        setText(byId("sel-count"), n > 0 ? `${n.toLocaleString()} selected` : "");
    }
    fillDirs() {
        const dirs = this.store.dirs();
        if (this.settings?.download_dir && !dirs.includes(this.settings.download_dir))
            dirs.unshift(this.settings.download_dir);
        byId("dirs").replaceChildren(...dirs.map((d) => h("option", { value: d })));
    }
    async bulk(method, extra, what, all = false) {
        const ids = [...this.store.selected];
        if (!all && ids.length === 0)
            return;
        const names = new Map(ids.map((id) => [id, this.store.get(id)?.name ?? id]));
        const name = (id) => names.get(id) ?? this.store.get(id)?.name ?? id;
        let res;
        try {
            res = await this.call(method, { ...extra, select: all ? { all: true } : { task_ids: ids } });
        }
        catch (e) {
            reportError(e, all ? `${what} all tasks` : ids.length === 1 ? `${what} ${name(ids[0])}` : `${what} ${ids.length} tasks`);
            return;
        }
        const results = Array.isArray(res.results) ? res.results : [];
        const failed = results.filter((r) => r.error !== 0);
        if (failed.length === 0)
            return;
        const why = failed.map((r) => errorText(new ApiError(r.error, r.message ?? "", method), `${what} ${name(r.task_id)}`));
        if (failed.length === 1) {
            toast(why[0], "error");
            return;
        }
        const shown = why.slice(0, MAX_BULK_ERRORS);
        const more = failed.length > shown.length ? `; and ${failed.length - shown.length} more` : "";
        toast(`${failed.length} of ${results.length} tasks failed: ${shown.join("; ")}${more}`, "error");
    }
    openRemove() {
        const ids = [...this.store.selected];
        if (ids.length === 0)
            return;
        const names = ids.slice(0, 5).map((id) => this.store.get(id)?.name ?? id);
        const what = byId("remove-what");
        what.replaceChildren(ids.length === 1 ? "Remove this task?" : `Remove these ${ids.length.toLocaleString()} tasks?`, h("ul", null, ...names.map((n) => h("li", null, n)), ids.length > 5 ? h("li", null, `…and ${ids.length - 5} more`) : null));
        const box = byId("remove-data");
        box.checked = false;
        this.syncRemove();
        byId("dlg-remove").showModal();
        byId("remove-cancel").focus();
    }
    syncRemove() {
        const del = byId("remove-data").checked;
        byId("remove-warn").hidden = !del;
        setText(byId("remove-ok"), del ? "Remove and delete data" : "Remove");
    }
    applyFilter() {
        this.store.setFilter(byId("filter-text").value, byId("filter-state").value, byId("filter-label").value, byId("filter-node").value);
        this.schedule();
    }
    wire() {
        byId("login-form").addEventListener("submit", (e) => {
            e.preventDefault();
            const token = byId("login-token").value.trim();
            if (!token)
                return;
            byId("login-submit").disabled = true;
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
        byId("remove-cancel").addEventListener("click", () => byId("dlg-remove").close());
        byId("remove-form").addEventListener("submit", (e) => {
            e.preventDefault();
            byId("dlg-remove").close();
            void this.bulk("task.remove", { delete_data: byId("remove-data").checked }, "Remove");
        });
        byId("sel-all").addEventListener("change", (e) => this.table.selectAll(e.target.checked));
        const fs = byId("filter-state");
        fs.replaceChildren(...STATE_FILTERS.map((f) => h("option", { value: f }, FILTER_NAMES[f])));
        fs.addEventListener("change", () => this.applyFilter());
        byId("filter-label").addEventListener("change", () => this.applyFilter());
        byId("filter-node").addEventListener("change", () => this.applyFilter());
        byId("filter-text").addEventListener("input", () => this.applyFilter());
        const drop = byId("drop");
        const carries = (e) => !!e.dataTransfer && [...e.dataTransfer.types].some((t) => t === "Files" || t === "text/uri-list" || t === "text/plain");
        document.addEventListener("dragover", (e) => {
            if (byId("app").hidden || !carries(e))
                return;
            e.preventDefault();
            if (!this.add.isOpen)
                drop.hidden = false;
        });
        document.addEventListener("dragleave", (e) => {
            if (e.relatedTarget === null)
                drop.hidden = true;
        });
        document.addEventListener("drop", (e) => {
            drop.hidden = true;
            if (byId("app").hidden || !e.dataTransfer)
                return;
            e.preventDefault();
            this.fillDirs();
            const files = [...e.dataTransfer.files];
            this.add.open(files, files.length === 0 ? e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain") : "");
        });
        document.addEventListener("paste", (e) => {
            if (byId("app").hidden || e.target.closest("input, textarea, select, dialog"))
                return;
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
    expireRates() {
        const now = performance.now();
        for (const r of this.store.rows.values()) {
            const t = r.t;
            if (t.download_rate === 0 && t.upload_rate === 0)
                continue;
            if (now - (this.lastProgress.get(t.task_id) ?? 0) < STALE_RATE)
                continue;
            this.store.patch(t.task_id, { download_rate: 0, upload_rate: 0, eta_seconds: -1 });
            this.schedule();
        }
    }
}
new App().start();
