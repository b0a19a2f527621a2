import { h, setAttr, setText } from "./dom.js";
import * as fmt from "./format.js";
import { tagText } from "./tasks.js";
const OVERSCAN = 6;
export class TaskTable {
    store;
    grid;
    body;
    spacer;
    head;
    cb;
    schedule;
    pool = [];
    rowH = 36;
    anchor = -1;
    cursor = -1;
    measured = false;
    constructor(store, grid, body, spacer, head, cb, schedule) {
        this.store = store;
        this.grid = grid;
        this.body = body;
        this.spacer = spacer;
        this.head = head;
        this.cb = cb;
        this.schedule = schedule;
        body.addEventListener("scroll", () => schedule(), { passive: true });
        new ResizeObserver(() => {
            this.measured = false;
            schedule();
        }).observe(body);
        body.addEventListener("click", (e) => this.onClick(e));
        grid.addEventListener("keydown", (e) => this.onKey(e));
        head.addEventListener("click", (e) => {
            const b = e.target.closest("button[data-sort]");
            if (!b)
                return;
            store.setSort(b.dataset["sort"]);
            schedule();
        });
    }
    measure() {
        const probe = this.makeRow();
        probe.el.classList.add("probe");
        this.body.append(probe.el);
        const hgt = probe.el.getBoundingClientRect().height;
        probe.el.remove();
        if (hgt > 0)
            this.rowH = hgt;
        this.measured = true;
    }
    makeRow() {
        const check = h("input", { type: "checkbox", tabindex: -1, class: "rowcheck" });
        const name = h("span", { class: "name" });
        const note = h("span", { class: "note" });
        const fill = h("div", { class: "fill" });
        const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, fill);
        const pct = h("span", { class: "pct" });
        const state = h("span", { class: "badge" });
        const cell = (cls, ...kids) => h("div", { role: "gridcell", class: cls }, ...kids);
        const size = cell("c-size num");
        const node = cell("c-node");
        const down = cell("c-down num");
        const up = cell("c-up num");
        const eta = cell("c-eta num");
        const ratio = cell("c-ratio num");
        const peers = cell("c-peers num");
        const labels = cell("c-labels");
        const added = cell("c-added");
        const el = h("div", { class: "tr", role: "row", "aria-selected": "false" }, cell("c-sel", check), cell("c-name", name, note), size, cell("c-prog", bar, pct), cell("c-state", state), node, down, up, eta, ratio, peers, labels, added);
        return { el, check, name, note, size, bar, fill, pct, state, node, down, up, eta, ratio, peers, labels, added, id: "", v: -1, sel: false, index: -1, cur: false };
    }
    render() {
        const store = this.store;
        if (!this.measured)
            this.measure();
        const view = store.view;
        const n = view.length;
        const total = `${n * this.rowH}px`;
        if (this.spacer.style.height !== total)
            this.spacer.style.height = total;
        setAttr(this.grid, "aria-rowcount", String(n + 1));
        this.grid.dataset["count"] = String(n);
        if (this.cursor >= n)
            this.cursor = n - 1;
        const top = this.body.scrollTop;
        const viewH = this.body.clientHeight || 600;
        const first = Math.max(0, Math.floor(top / this.rowH) - OVERSCAN);
        const last = Math.min(n, Math.ceil((top + viewH) / this.rowH) + OVERSCAN);
        const slot = new Map();
        for (let i = first; i < last; i++)
            slot.set(view[i].t.task_id, i);
        const placed = new Set();
        const free = [];
        for (const re of this.pool) {
            const i = re.id === "" ? undefined : slot.get(re.id);
            if (i === undefined || placed.has(i)) {
                free.push(re);
                continue;
            }
            placed.add(i);
            this.draw(re, view[i], i);
        }
        for (let i = first; i < last; i++) {
            if (placed.has(i))
                continue;
            let re = free.pop();
            if (!re) {
                re = this.makeRow();
                this.pool.push(re);
                this.body.append(re.el);
            }
            if (re.el.hidden)
                re.el.hidden = false;
            this.draw(re, view[i], i);
        }
        for (const re of free) {
            if (re.el.hidden)
                continue;
            re.el.hidden = true;
            re.id = "";
            re.el.removeAttribute("id");
            delete re.el.dataset["id"];
            re.el.removeAttribute("aria-rowindex");
            re.index = -1;
        }
        const cur = this.cursor >= 0 ? view[this.cursor] : undefined;
        setAttr(this.grid, "aria-activedescendant", cur && this.rendered(cur.t.task_id) ? `row-${cur.t.task_id}` : null);
        this.drawHead();
    }
    rendered(id) {
        return this.pool.some((p) => p.id === id && !p.el.hidden);
    }
    draw(re, r, index) {
        const t = r.t;
        const sel = this.store.selected.has(t.task_id);
        const cur = index === this.cursor;
        if (re.index !== index) {
            re.el.style.transform = `translateY(${index * this.rowH}px)`;
            re.el.setAttribute("aria-rowindex", String(index + 2));
            re.index = index;
        }
        if (re.cur !== cur) {
            re.el.classList.toggle("cursor", cur);
            re.cur = cur;
        }
        if (re.id === t.task_id && re.v === r.v && re.sel === sel)
            return;
        if (re.id !== t.task_id) {
            re.id = t.task_id;
            re.el.id = `row-${t.task_id}`;
            re.el.dataset["id"] = t.task_id;
        }
        re.v = r.v;
        re.sel = sel;
        re.el.setAttribute("aria-selected", String(sel));
        re.el.classList.toggle("selected", sel);
        re.check.checked = sel;
        setAttr(re.check, "aria-label", `Select ${t.name}`);
        setText(re.name, t.name);
        setAttr(re.name, "title", t.name);
        setText(re.note, t.state === "error" && t.error ? t.error : "");
        setText(re.size, t.size > 0 ? fmt.size(t.size) : "");
        const p = r.pct;
        re.fill.style.transform = `scaleX(${p / 100})`;
        setAttr(re.bar, "aria-valuenow", String(p));
        setAttr(re.bar, "aria-label", `Progress of ${t.name}`);
        setText(re.pct, fmt.percentText(p));
        setText(re.state, fmt.stateLabel(t.state));
        re.state.className = `badge s-${t.state}`;
        re.el.dataset["state"] = t.state;
        setText(re.node, t.node ?? "");
        setAttr(re.node, "title", t.node ? `On node ${t.node}` : null);
        setText(re.down, fmt.rate(t.download_rate));
        setText(re.up, fmt.rate(t.upload_rate));
        re.down.classList.toggle("zero", t.download_rate <= 0);
        re.up.classList.toggle("zero", t.upload_rate <= 0);
        setText(re.eta, t.state === "downloading" ? fmt.duration(t.eta_seconds) || "∞" : "");
        setText(re.ratio, fmt.ratio(t.ratio));
        setText(re.peers, t.peers > 0 ? String(t.peers) : "");
        setText(re.labels, tagText(t));
        setText(re.added, fmt.date(t.added_at));
    }
    drawHead() {
        const store = this.store;
        for (const b of this.head.querySelectorAll("button[data-sort]")) {
            const on = b.dataset["sort"] === store.sortKey;
            const th = b.parentElement;
            setAttr(th, "aria-sort", on ? (store.sortDesc ? "descending" : "ascending") : "none");
        }
        const all = this.head.querySelector("#sel-all");
        if (all) {
            let n = 0;
            for (const r of store.view)
                if (store.selected.has(r.t.task_id))
                    n++;
            all.checked = n > 0 && n === store.view.length;
            all.indeterminate = n > 0 && n < store.view.length;
        }
    }
    selectAll(on) {
        const s = this.store.selected;
        if (on)
            for (const r of this.store.view)
                s.add(r.t.task_id);
        else
            s.clear();
        this.store.changed = true;
        this.cb.selectionChanged();
        this.schedule();
    }
    indexOf(id) {
        return this.store.view.findIndex((r) => r.t.task_id === id);
    }
    onClick(e) {
        const rowEl = e.target.closest(".tr");
        const id = rowEl?.dataset["id"];
        if (!id)
            return;
        const index = this.indexOf(id);
        const sel = this.store.selected;
        const onCheck = e.target.classList.contains("rowcheck");
        if (e.shiftKey && this.anchor >= 0) {
            const [a, b] = this.anchor < index ? [this.anchor, index] : [index, this.anchor];
            if (!(e.ctrlKey || e.metaKey))
                sel.clear();
            for (let i = a; i <= b; i++)
                sel.add(this.store.view[i].t.task_id);
        }
        else if (onCheck || e.ctrlKey || e.metaKey) {
            if (sel.has(id))
                sel.delete(id);
            else
                sel.add(id);
            this.anchor = index;
        }
        else {
            sel.clear();
            sel.add(id);
            this.anchor = index;
            this.cb.open(id);
        }
        this.cursor = index;
        this.store.changed = true;
        this.cb.selectionChanged();
        this.schedule();
    }
    onKey(e) {
        if (e.target.closest("input:not(.rowcheck), select, button"))
            return;
        const n = this.store.view.length;
        if (n === 0)
            return;
        let c = this.cursor;
        const page = Math.max(1, Math.floor(this.body.clientHeight / this.rowH) - 1);
        switch (e.key) {
            case "ArrowDown":
                c = Math.min(n - 1, c + 1);
                break;
            case "ArrowUp":
                c = Math.max(0, c - 1);
                break;
            case "PageDown":
                c = Math.min(n - 1, c + page);
                break;
            case "PageUp":
                c = Math.max(0, c - page);
                break;
            case "Home":
                c = 0;
                break;
            case "End":
                c = n - 1;
                break;
            case " ": {
                if (c < 0)
                    c = 0;
                const id = this.store.view[c].t.task_id;
                if (this.store.selected.has(id))
                    this.store.selected.delete(id);
                else
                    this.store.selected.add(id);
                this.anchor = c;
                break;
            }
            case "Enter":
                if (c >= 0)
                    this.cb.open(this.store.view[c].t.task_id);
                break;
            case "a":
                if (!(e.ctrlKey || e.metaKey))
                    return;
                this.selectAll(true);
                e.preventDefault();
                return;
            case "Delete":
                if (this.store.selected.size > 0)
                    this.cb.remove();
                e.preventDefault();
                return;
            default:
                return;
        }
        e.preventDefault();
        if (e.shiftKey && (e.key.startsWith("Arrow") || e.key.startsWith("Page") || e.key === "Home" || e.key === "End")) {
            this.store.selected.add(this.store.view[c].t.task_id);
        }
        this.cursor = c;
        const y = c * this.rowH;
        if (y < this.body.scrollTop)
            this.body.scrollTop = y;
        else if (y + this.rowH > this.body.scrollTop + this.body.clientHeight)
            this.body.scrollTop = y + this.rowH - this.body.clientHeight;
        this.store.changed = true;
        this.cb.selectionChanged();
        this.schedule();
    }
}
