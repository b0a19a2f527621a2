// The task store: every task the daemon has, kept current from events, and
// the filtered, sorted view the table shows. It never touches the DOM.

import { TASK_STATES, type Task, type TaskProgress, type TaskState } from "./types.js";
import { percent } from "./format.js";

// Row is a task plus what sorting and filtering need, and a version that
// changes whenever the task does (the table redraws a row only then).
export interface Row {
  t: Task;
  v: number;
  lname: string;
  added: number;
  pct: number;
}

export type SortKey =
  | "name" | "size" | "progress" | "state" | "down" | "up"
  | "eta" | "ratio" | "peers" | "labels" | "added" | "node";

export const STATE_FILTERS = [
  "all", "active", "downloading", "seeding", "completed", "paused",
  "queued", "checking", "metadata", "finished", "error",
] as const;
export type StateFilter = (typeof STATE_FILTERS)[number];

// NO_LABEL is the label filter value for tasks without labels.
export const NO_LABEL = "\u0000none";

const stateRank = new Map<TaskState, number>(TASK_STATES.map((s, i) => [s, i]));

// tagText is what the list's Category · Labels column shows.
export function tagText(t: Task): string {
  const labels = t.labels.join(", ");
  if (!t.category) return labels;
  return labels ? `${t.category} · ${labels}` : t.category;
}

function etaKey(t: Task): number {
  return t.eta_seconds >= 0 ? t.eta_seconds : Number.MAX_SAFE_INTEGER;
}

const compare: Record<SortKey, (a: Row, b: Row) => number> = {
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

// The Task fields each sort key reads: a change to one re-sorts the view.
const sortFields: Record<SortKey, readonly (keyof Task)[]> = {
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

function isActive(t: Task): boolean {
  return t.download_rate > 0 || t.upload_rate > 0 || t.state === "checking" || t.state === "metadata";
}

export function matchesState(t: Task, f: StateFilter): boolean {
  switch (f) {
    case "all": return true;
    case "active": return isActive(t);
    case "completed": return t.finished_at !== undefined && t.finished_at !== "";
    default: return t.state === f;
  }
}

export class TaskStore {
  readonly rows = new Map<string, Row>();
  // view is the filtered, sorted rows, valid after computeView.
  view: Row[] = [];
  sortKey: SortKey = "added";
  sortDesc = false;
  filterText = "";
  filterState: StateFilter = "all";
  filterLabel = "";
  // filterNode keeps the tasks of one cluster node ("": all).
  filterNode = "";
  readonly selected = new Set<string>();
  // viewDirty: the view must be recomputed; changed: something to redraw.
  viewDirty = true;
  changed = true;
  // labelsDirty: the set of labels (for the filter menu) may have changed.
  labelsDirty = true;
  // nodesDirty: the set of nodes tasks are on may have changed.
  nodesDirty = true;
  private ver = 0;

  get size(): number {
    return this.rows.size;
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

  get(id: string): Task | undefined {
    return this.rows.get(id)?.t;
  }

  // version returns the row's version (0 when unknown).
  version(id: string): number {
    return this.rows.get(id)?.v ?? 0;
  }

  // put adds or replaces a whole task.
  put(t: Task): void {
    if (!Array.isArray(t.labels)) t.labels = [];
    if (typeof t.category !== "string") t.category = "";
    const old = this.rows.get(t.task_id);
    this.rows.set(t.task_id, {
      t,
      v: ++this.ver,
      lname: t.name.toLowerCase(),
      added: Date.parse(t.added_at) || 0,
      pct: percent(t.completed, t.size),
    });
    if (!old || old.t.labels.join("\u0000") !== t.labels.join("\u0000")) this.labelsDirty = true;
    if (!old || old.t.node !== t.node) this.nodesDirty = true;
    this.viewDirty = true;
    this.changed = true;
  }

  // replaceAll makes the store hold exactly tasks (a fresh task.list).
  replaceAll(tasks: Task[]): void {
    const keep = new Set<string>();
    for (const t of tasks) {
      keep.add(t.task_id);
      this.put(t);
    }
    for (const id of [...this.rows.keys()]) if (!keep.has(id)) this.remove(id);
    this.labelsDirty = true;
  }

  // patch changes some fields of a known task; it reports whether the task
  // is known.
  patch(id: string, fields: { [K in keyof Task]?: Task[K] | undefined }): boolean {
    const r = this.rows.get(id);
    if (!r) return false;
    const t = r.t as unknown as Record<string, unknown>;
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
      if (t[k] === v) continue;
      t[k] = v;
      any = true;
      if ((sortBy as readonly string[]).includes(k) || k === "state" || k === "name" || k === "finished_at") resort = true;
      if (k === "labels") this.labelsDirty = true;
      if (k === "node") {
        this.nodesDirty = true;
        if (this.filterNode) resort = true;
      }
    }
    if (!any) return true;
    if ("name" in fields) r.lname = r.t.name.toLowerCase();
    r.pct = percent(r.t.completed, r.t.size);
    r.v = ++this.ver;
    if (resort || (this.filterState === "active" && ("download_rate" in fields || "upload_rate" in fields))) this.viewDirty = true;
    this.changed = true;
    return true;
  }

  // progress applies a task.progress snapshot (the hot path: one a second
  // for every active task); it reports whether the task is known.
  progress(p: TaskProgress): boolean {
    const r = this.rows.get(p.task_id);
    if (!r) return false;
    const t = r.t;
    const key = this.sortKey;
    let changed = false;
    let resort = false;
    let rates = false;
    if (t.state !== p.state) {
      t.state = p.state;
      if (p.state !== "error") delete t.error;
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
    if (!changed) return true;
    r.pct = percent(t.completed, t.size);
    r.v = ++this.ver;
    this.changed = true;
    if (resort || (rates && this.filterState === "active")) this.viewDirty = true;
    return true;
  }

  remove(id: string): void {
    if (!this.rows.delete(id)) return;
    this.selected.delete(id);
    this.viewDirty = true;
    this.changed = true;
    this.labelsDirty = true;
    this.nodesDirty = true;
  }

  clear(): void {
    this.rows.clear();
    this.selected.clear();
    this.view = [];
    this.viewDirty = this.changed = this.labelsDirty = this.nodesDirty = true;
  }

  setSort(key: SortKey): void {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else {
      this.sortKey = key;
      // Numbers are most useful biggest first; text and dates A→Z, old→new.
      this.sortDesc = !(key === "name" || key === "state" || key === "labels" || key === "added" || key === "eta" || key === "node");
    }
    this.viewDirty = this.changed = true;
  }

  setFilter(text: string, state: StateFilter, label: string, node = ""): void {
    this.filterText = text.trim().toLowerCase();
    this.filterState = state;
    this.filterLabel = label;
    this.filterNode = node;
    this.viewDirty = this.changed = true;
  }

  // computeView filters and sorts; ties keep the order tasks were added.
  computeView(): void {
    const text = this.filterText;
    const st = this.filterState;
    const label = this.filterLabel;
    const node = this.filterNode;
    const out: Row[] = [];
    for (const r of this.rows.values()) {
      const t = r.t;
      if (st !== "all" && !matchesState(t, st)) continue;
      if (label) {
        if (label === NO_LABEL ? t.labels.length > 0 : !t.labels.includes(label)) continue;
      }
      if (node && t.node !== node) continue;
      if (text && !r.lname.includes(text) && !t.task_id.startsWith(text) && !t.labels.some((l) => l.toLowerCase().includes(text)) && !t.category.toLowerCase().includes(text) && !(t.node ?? "").toLowerCase().includes(text)) continue;
      out.push(r);
    }
    const cmp = compare[this.sortKey];
    const dir = this.sortDesc ? -1 : 1;
    out.sort((a, b) => dir * cmp(a, b) || a.added - b.added || (a.t.task_id < b.t.task_id ? -1 : 1));
    this.view = out;
    this.viewDirty = false;
  }

  // stateCounts counts tasks per state filter.
  stateCounts(): Map<StateFilter, number> {
    const m = new Map<StateFilter, number>(STATE_FILTERS.map((f) => [f, 0]));
    for (const r of this.rows.values()) {
      for (const f of STATE_FILTERS) if (matchesState(r.t, f)) m.set(f, (m.get(f) ?? 0) + 1);
    }
    return m;
  }

  // labels lists every label in use, sorted.
  labels(): string[] {
    const s = new Set<string>();
    for (const r of this.rows.values()) for (const l of r.t.labels) s.add(l);
    this.labelsDirty = false;
    return [...s].sort((a, b) => a.localeCompare(b));
  }

  // nodes lists the cluster nodes the tasks are on, sorted.
  nodes(): string[] {
    const s = new Set<string>();
    for (const r of this.rows.values()) if (r.t.node) s.add(r.t.node);
    this.nodesDirty = false;
    return [...s].sort();
  }

  // dirs lists the download dirs in use, most used first.
  dirs(): string[] {
    const m = new Map<string, number>();
    for (const r of this.rows.values()) m.set(r.t.download_dir, (m.get(r.t.download_dir) ?? 0) + 1);
    return [...m.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d).slice(0, 20);
  }
}
