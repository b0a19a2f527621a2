import { TASK_STATES } from "./types.js";
import { percent } from "./format.js";
export const STATE_FILTERS = [
    "all", "active", "downloading", "seeding", "completed", "paused",
    "queued", "checking", "metadata", "finished", "error",
];
export const NO_LABEL = "\u0000none";
const stateRank = new Map(TASK_STATES.map((s, i) => [s, i]));
export function tagText(t) {
    const labels = t.labels.join(", ");
    if (!t.category)
        return labels;
    return labels ? `${t.category} · ${labels}` : t.category;
}
function etaKey(t) {
    return t.eta_seconds >= 0 ? t.eta_seconds : Number.MAX_SAFE_INTEGER;
}
const compare = {
    name: (a, b) => (a.lname < b.lname ? -1 : a.lname > b.lname ? 1 : 0),
    size: (a, b) => a.t.size - b.t.size,
    progress: (a, b) => a.pct - b.pct || a.t.completed - b.t.completed,
    state: (a, b) => (stateRank.get(a.t.state) ?? 99) - (stateRank.get(b.t.state) ?? 99),
    down: (a, b) => a.t.download_rate - b.t.download_rate,
    up: (a, b) => a.t.upload_rate - b.t.upload_rate,
    eta: (a, b) => etaKey(a.t) - etaKey(b.t),
    ratio: (a, b) => a.t.ratio - b.t.ratio,
    peers: (a, b) => a.t.peers - b.t.peers,
    labels: (a, b) => {
        const x = tagText(a.t), y = tagText(b.t);
        return x < y ? -1 : x > y ? 1 : 0;
    },
    added: (a, b) => a.added - b.added,
    node: (a, b) => {
        const x = a.t.node ?? "", y = b.t.node ?? "";
        return x < y ? -1 : x > y ? 1 : 0;
    },
};
const sortFields = {
    name: ["name"],
    size: ["size"],
    progress: ["completed", "size"],
    state: ["state"],
    down: ["download_rate"],
    up: ["upload_rate"],
    eta: ["eta_seconds"],
    ratio: ["ratio"],
    peers: ["peers"],
    labels: ["category", "labels"],
    added: ["added_at"],
    node: ["node"],
};
function isActive(t) {
    return t.download_rate > 0 || t.upload_rate > 0 || t.state === "checking" || t.state === "metadata";
}
export function matchesState(t, f) {
    switch (f) {
        case "all": return true;
        case "active": return isActive(t);
        case "completed": return t.finished_at !== undefined && t.finished_at !== "";
        default: return t.state === f;
    }
}
export class TaskStore {
    rows = new Map();
    view = [];
    sortKey = "added";
    sortDesc = false;
    filterText = "";
    filterState = "all";
    filterLabel = "";
    filterNode = "";
    selected = new Set();
    viewDirty = true;
    changed = true;
    labelsDirty = true;
    nodesDirty = true;
    ver = 0;
    get size() {
        return this.rows.size;
    }
    has(id) {
        return this.rows.has(id);
    }
    get(id) {
        return this.rows.get(id)?.t;
    }
    version(id) {
        return this.rows.get(id)?.v ?? 0;
    }
    put(t) {
        if (!Array.isArray(t.labels))
            t.labels = [];
        if (typeof t.category !== "string")
            t.category = "";
        const old = this.rows.get(t.task_id);
        this.rows.set(t.task_id, {
            t,
            v: ++this.ver,
            lname: t.name.toLowerCase(),
            added: Date.parse(t.added_at) || 0,
            pct: percent(t.completed, t.size),
        });
        if (!old || old.t.labels.join("\u0000") !== t.labels.join("\u0000"))
            this.labelsDirty = true;
        if (!old || old.t.node !== t.node)
            this.nodesDirty = true;
        this.viewDirty = true;
        this.changed = true;
    }
    replaceAll(tasks) {
        const keep = new Set();
        for (const t of tasks) {
            keep.add(t.task_id);
            this.put(t);
        }
        for (const id of [...this.rows.keys()])
            if (!keep.has(id))
                this.remove(id);
        this.labelsDirty = true;
    }
    patch(id, fields) {
        const r = this.rows.get(id);
        if (!r)
            return false;
        const t = r.t;
        let any = false;
        let resort = false;
        const sortBy = sortFields[this.sortKey];
        for (const [k, v] of Object.entries(fields)) {
            if (v === undefined) {
                if (k in t) {
                    delete t[k];
                    any = true;
                }
                continue;
            }
            if (t[k] === v)
                continue;
            t[k] = v;
            any = true;
            if (sortBy.includes(k) || k === "state" || k === "name" || k === "finished_at")
                resort = true;
            if (k === "labels")
                this.labelsDirty = true;
            if (k === "node") {
                this.nodesDirty = true;
                if (this.filterNode)
                    resort = true;
            }
        }
        if (!any)
            return true;
        if ("name" in fields)
            r.lname = r.t.name.toLowerCase();
        r.pct = percent(r.t.completed, r.t.size);
        r.v = ++this.ver;
        if (resort || (this.filterState === "active" && ("download_rate" in fields || "upload_rate" in fields)))
            this.viewDirty = true;
        this.changed = true;
        return true;
    }
    progress(p) {
        const r = this.rows.get(p.task_id);
        if (!r)
            return false;
        const t = r.t;
        const key = this.sortKey;
        let changed = false;
        let resort = false;
        let rates = false;
        if (t.state !== p.state) {
            t.state = p.state;
            if (p.state !== "error")
                delete t.error;
            changed = resort = true;
        }
        if (t.size !== p.size) {
            t.size = p.size;
            changed = true;
            resort ||= key === "size" || key === "progress";
        }
        if (t.completed !== p.completed) {
            t.completed = p.completed;
            changed = true;
            resort ||= key === "progress";
        }
        if (t.download_rate !== p.download_rate) {
            t.download_rate = p.download_rate;
            changed = rates = true;
            resort ||= key === "down";
        }
        if (t.upload_rate !== p.upload_rate) {
            t.upload_rate = p.upload_rate;
            changed = rates = true;
            resort ||= key === "up";
        }
        if (t.peers !== p.peers) {
            t.peers = p.peers;
            changed = true;
            resort ||= key === "peers";
        }
        if (t.eta_seconds !== p.eta_seconds) {
            t.eta_seconds = p.eta_seconds;
            changed = true;
            resort ||= key === "eta";
        }
        if (p.ratio !== undefined && t.ratio !== p.ratio) {
            t.ratio = p.ratio;
            changed = true;
            resort ||= key === "ratio";
        }
        if (p.downloaded !== undefined && t.downloaded !== p.downloaded) {
            t.downloaded = p.downloaded;
            changed = true;
        }
        if (p.uploaded !== undefined && t.uploaded !== p.uploaded) {
            t.uploaded = p.uploaded;
            changed = true;
        }
        if (!changed)
            return true;
        r.pct = percent(t.completed, t.size);
        r.v = ++this.ver;
        this.changed = true;
        if (resort || (rates && this.filterState === "active"))
            this.viewDirty = true;
        return true;
    }
    remove(id) {
        if (!this.rows.delete(id))
            return;
        this.selected.delete(id);
        this.viewDirty = true;
        this.changed = true;
        this.labelsDirty = true;
        this.nodesDirty = true;
    }
    clear() {
        this.rows.clear();
        this.selected.clear();
        this.view = [];
        this.viewDirty = this.changed = this.labelsDirty = this.nodesDirty = true;
    }
    setSort(key) {
        if (this.sortKey === key)
            this.sortDesc = !this.sortDesc;
        else {
            this.sortKey = key;
            this.sortDesc = !(key === "name" || key === "state" || key === "labels" || key === "added" || key === "eta" || key === "node");
        }
        this.viewDirty = this.changed = true;
    }
    setFilter(text, state, label, node = "") {
        this.filterText = text.trim().toLowerCase();
        this.filterState = state;
        this.filterLabel = label;
        this.filterNode = node;
        this.viewDirty = this.changed = true;
    }
    computeView() {
        const text = this.filterText;
        const st = this.filterState;
        const label = this.filterLabel;
        const node = this.filterNode;
        const out = [];
        for (const r of this.rows.values()) {
            const t = r.t;
            if (st !== "all" && !matchesState(t, st))
                continue;
            if (label) {
                if (label === NO_LABEL ? t.labels.length > 0 : !t.labels.includes(label))
                    continue;
            }
            if (node && t.node !== node)
                continue;
            if (text && !r.lname.includes(text) && !t.task_id.startsWith(text) && !t.labels.some((l) => l.toLowerCase().includes(text)) && !t.category.toLowerCase().includes(text) && !(t.node ?? "").toLowerCase().includes(text))
                continue;
            out.push(r);
        }
        const cmp = compare[this.sortKey];
        const dir = this.sortDesc ? -1 : 1;
        out.sort((a, b) => dir * cmp(a, b) || a.added - b.added || (a.t.task_id < b.t.task_id ? -1 : 1));
        this.view = out;
        this.viewDirty = false;
    }
    stateCounts() {
        const m = new Map(STATE_FILTERS.map((f) => [f, 0]));
        for (const r of this.rows.values()) {
            for (const f of STATE_FILTERS)
                if (matchesState(r.t, f))
                    m.set(f, (m.get(f) ?? 0) + 1);
        }
        return m;
    }
    labels() {
        const s = new Set();
        for (const r of this.rows.values())
            for (const l of r.t.labels)
                s.add(l);
        this.labelsDirty = false;
        return [...s].sort((a, b) => a.localeCompare(b));
    }
    nodes() {
        const s = new Set();
        for (const r of this.rows.values())
            if (r.t.node)
                s.add(r.t.node);
        this.nodesDirty = false;
        return [...s].sort();
    }
    dirs() {
        const m = new Map();
        for (const r of this.rows.values())
            m.set(r.t.download_dir, (m.get(r.t.download_dir) ?? 0) + 1);
        return [...m.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d).slice(0, 20);
    }
}
