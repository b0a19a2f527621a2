import { byId, cssVar, h, setAttr, setText } from "./dom.js";
import * as fmt from "./format.js";
const TABS = ["general", "files", "peers", "trackers", "pieces"];
const MIN_GAP = 1000;
const FILES_SHOWN = 500;
export function fileURL(taskID, path) {
    return `/files/${taskID}/${path.split("/").map(encodeURIComponent).join("/")}`;
}
export class Detail {
    d;
    id = null;
    tab = "general";
    shownV = -1;
    last = 0;
    busy = false;
    again = false;
    timer;
    fileRows = new Map();
    filesOf = "";
    allFiles = false;
    files = [];
    pane = byId("detail");
    info = byId("d-info");
    dd = new Map();
    shownCat = "";
    constructor(d) {
        this.d = d;
        byId("detail-close").addEventListener("click", () => this.close());
        this.pane.addEventListener("keydown", (e) => {
            if (e.key === "Escape" && !e.target.closest("select"))
                this.close();
        });
        const tabs = this.pane.querySelector(".tabs");
        tabs.addEventListener("click", (e) => {
            const b = e.target.closest("[data-tab]");
            if (b)
                this.show(b.dataset["tab"]);
        });
        tabs.addEventListener("keydown", (e) => {
            const i = TABS.indexOf(this.tab);
            let n = -1;
            if (e.key === "ArrowRight")
                n = (i + 1) % TABS.length;
            else if (e.key === "ArrowLeft")
                n = (i + TABS.length - 1) % TABS.length;
            else if (e.key === "Home")
                n = 0;
            else if (e.key === "End")
                n = TABS.length - 1;
            if (n < 0)
                return;
            e.preventDefault();
            this.show(TABS[n]);
            byId(`tab-${TABS[n]}`).focus();
        });
        byId("detail-toggle").addEventListener("click", () => void this.toggle());
        this.wireGeneral();
        this.wireFiles();
        this.wireTrackers();
        for (const [k, label] of [
            ["hash", "Info-hash"], ["state", "State"], ["node", "Node"], ["size", "Size"], ["done", "Verified"],
            ["dl", "Downloaded"], ["ul", "Uploaded"], ["ratio", "Ratio"], ["rates", "Rates"],
            ["eta", "ETA"], ["peers", "Peers"], ["pieces", "Pieces"], ["added", "Added"],
            ["finished", "Finished"], ["category", "Category"], ["dir", "Directory"], ["error", "Error"],
        ]) {
            const dd = h("dd");
            this.info.append(h("div", { class: `kv kv-${k}` }, h("dt", null, label), dd));
            this.dd.set(k, dd);
        }
    }
    open(id) {
        if (this.id !== id) {
            this.id = id;
            this.shownV = -1;
            this.filesOf = "";
            this.allFiles = false;
            this.files = [];
            byId("files-body").replaceChildren();
            byId("peers-body").replaceChildren();
            byId("trackers-body").replaceChildren();
            this.fillForms();
        }
        this.pane.hidden = false;
        document.body.classList.add("has-detail");
        this.render();
        this.refresh(true);
    }
    close() {
        if (this.pane.hidden)
            return;
        this.pane.hidden = true;
        this.id = null;
        document.body.classList.remove("has-detail");
        clearTimeout(this.timer);
        this.d.closed();
    }
    show(tab) {
        this.tab = tab;
        for (const t of TABS) {
            const b = byId(`tab-${t}`);
            b.setAttribute("aria-selected", String(t === tab));
            b.tabIndex = t === tab ? 0 : -1;
            byId(`panel-${t}`).hidden = t !== tab;
        }
        this.refresh(true);
    }
    changed(id, force = false) {
        if (id === this.id)
            this.refresh(force);
    }
    render() {
        const id = this.id;
        if (!id)
            return;
        const v = this.d.store.version(id);
        if (v === this.shownV)
            return;
        this.shownV = v;
        const t = this.d.store.get(id);
        if (!t) {
            this.close();
            return;
        }
        setText(byId("detail-title"), t.name);
        const st = byId("detail-state");
        setText(st, fmt.stateLabel(t.state));
        st.className = `badge s-${t.state}`;
        setText(byId("detail-toggle"), t.state === "paused" || t.state === "error" || t.state === "finished" ? "▶ Resume" : "❚❚ Pause");
        const set = (k, s) => {
            const dd = this.dd.get(k);
            setText(dd, s);
            dd.parentElement.hidden = s === "";
        };
        set("hash", t.task_id);
        set("state", fmt.stateLabel(t.state));
        set("node", t.node ?? "");
        set("size", t.size > 0 ? `${fmt.size(t.size)} (${t.size.toLocaleString()} bytes)` : "unknown until the metadata arrives");
        set("done", `${fmt.size(t.completed)} (${fmt.percentText(fmt.percent(t.completed, t.size))})`);
        set("dl", fmt.size(t.downloaded));
        set("ul", fmt.size(t.uploaded));
        set("ratio", fmt.ratio(t.ratio));
        set("rates", `↓ ${fmt.rate(t.download_rate)}  ↑ ${fmt.rate(t.upload_rate)}`);
        set("eta", t.state === "downloading" ? fmt.duration(t.eta_seconds) || "∞" : "");
        set("peers", String(t.peers));
        set("pieces", t.pieces > 0 ? `${t.pieces.toLocaleString()} × ${fmt.size(t.piece_size)}` : "");
        set("added", fmt.date(t.added_at, true));
        set("finished", fmt.date(t.finished_at, true));
        set("category", t.category);
        set("dir", t.download_dir);
        if (t.category !== this.shownCat) {
            this.shownCat = t.category;
            showCategory(t.category);
        }
        set("error", t.error ?? "");
        this.drawAlerts();
    }
    drawAlerts() {
        if (!this.id)
            return;
        const list = byId("d-alerts");
        const al = this.d.alerts(this.id);
        if (al.length === 0) {
            if (list.dataset["n"] !== "0")
                list.replaceChildren(h("li", { class: "muted" }, "None."));
            list.dataset["n"] = "0";
            return;
        }
        if (list.dataset["n"] === String(al.length) && list.dataset["at"] === String(al[al.length - 1].at))
            return;
        list.dataset["n"] = String(al.length);
        list.dataset["at"] = String(al[al.length - 1].at);
        list.replaceChildren(...[...al].reverse().map((a) => h("li", { class: `alert-${a.level}` }, h("time", null, new Date(a.at).toLocaleTimeString()), " ", a.message)));
    }
    async toggle() {
        const t = this.id ? this.d.store.get(this.id) : undefined;
        if (!t)
            return;
        const resume = t.state === "paused" || t.state === "error" || t.state === "finished";
        try {
            await this.d.api.call(resume ? "task.resume" : "task.pause", { task_id: t.task_id });
        }
        catch (e) {
            this.d.report(e, `${resume ? "Resume" : "Pause"} ${t.name}`);
        }
    }
    refresh(force) {
        if (!this.id || this.pane.hidden || this.tab === "general")
            return;
        if (this.busy) {
            this.again = true;
            return;
        }
        const wait = this.last + MIN_GAP - performance.now();
        if (!force && wait > 0) {
            if (this.timer === undefined) {
                this.timer = setTimeout(() => {
                    this.timer = undefined;
                    this.refresh(true);
                }, wait);
            }
            return;
        }
        clearTimeout(this.timer);
        this.timer = undefined;
        void this.load();
    }
    async load() {
        const id = this.id;
        const tab = this.tab;
        if (!id)
            return;
        this.busy = true;
        this.last = performance.now();
        try {
            switch (tab) {
                case "files": {
                    const r = await this.d.api.call("task.files", { task_id: id });
                    if (this.id === id)
                        this.drawFiles(id, r.files);
                    break;
                }
                case "peers": {
                    const r = await this.d.api.call("task.peers", { task_id: id });
                    if (this.id === id)
                        this.drawPeers(r.peers);
                    break;
                }
                case "trackers": {
                    const r = await this.d.api.call("task.trackers", { task_id: id });
                    if (this.id === id)
                        this.drawTrackers(id, r.trackers);
                    break;
                }
                case "pieces": {
                    const r = await this.d.api.call("task.pieces", { task_id: id });
                    if (this.id === id)
                        this.drawPieces(r.pieces, r.have);
                    break;
                }
                case "general":
                    break;
            }
        }
        catch (e) {
            if (!(e instanceof Error && "code" in e && e.code === 202))
                this.d.report(e, `Load ${tab}`);
        }
        finally {
            this.busy = false;
            if (this.again) {
                this.again = false;
                this.refresh(false);
            }
        }
    }
    fillForms() {
        const t = this.id ? this.d.store.get(this.id) : undefined;
        if (!t)
            return;
        byId("d-labels").value = t.labels.join(", ");
        this.shownCat = t.category;
        showCategory(t.category);
        byId("d-dlimit").value = fmt.bytesToKib(t.download_rate_limit);
        byId("d-ulimit").value = fmt.bytesToKib(t.upload_rate_limit);
        byId("d-move").value = t.download_dir;
        byId("d-seq").checked = t.sequential;
    }
    async set(params, what) {
        if (!this.id)
            return null;
        try {
            const t = await this.d.api.call("task.set", { task_id: this.id, ...params });
            this.d.store.put(t);
            return t;
        }
        catch (e) {
            this.d.report(e, what);
            return null;
        }
    }
    wireGeneral() {
        byId("f-category").addEventListener("submit", async (e) => {
            e.preventDefault();
            const before = this.id ? this.d.store.get(this.id)?.download_dir : undefined;
            const category = byId("d-category").value;
            const t = await this.set({ category }, "Set category");
            if (!t)
                return;
            byId("d-move").value = t.download_dir;
            if (t.download_dir !== before)
                this.d.notify(`Category set; data moved to ${t.download_dir}.`);
            else
                this.d.notify(category ? "Category set." : "Category cleared.");
        });
        byId("f-labels").addEventListener("submit", async (e) => {
            e.preventDefault();
            const labels = byId("d-labels").value.split(",").map((s) => s.trim()).filter((s) => s !== "");
            if (await this.set({ labels }, "Save labels"))
                this.d.notify("Labels saved.");
        });
        byId("f-limits").addEventListener("submit", async (e) => {
            e.preventDefault();
            const dl = fmt.kibToBytes(byId("d-dlimit").value);
            const ul = fmt.kibToBytes(byId("d-ulimit").value);
            if (Number.isNaN(dl) || Number.isNaN(ul)) {
                this.d.report(new Error("a limit must be 0 (none) or a positive number of KiB/s"), "Save limits");
                return;
            }
            if (await this.set({ download_rate_limit: dl, upload_rate_limit: ul }, "Save limits"))
                this.d.notify("Limits saved.");
        });
        byId("d-seq").addEventListener("change", async (e) => {
            const box = e.target;
            if (!(await this.set({ sequential: box.checked }, "Sequential download")))
                box.checked = !box.checked;
        });
        byId("f-move").addEventListener("submit", async (e) => {
            e.preventDefault();
            if (!this.id)
                return;
            const dir = byId("d-move").value.trim();
            try {
                const t = await this.d.api.call("task.move", { task_id: this.id, download_dir: dir });
                this.d.store.put(t);
                byId("d-move").value = t.download_dir;
                this.d.notify(`Moved to ${t.download_dir}.`);
            }
            catch (err) {
                this.d.report(err, "Move");
            }
        });
        byId("d-recheck").addEventListener("click", async () => {
            if (!this.id)
                return;
            try {
                await this.d.api.call("task.recheck", { task_id: this.id });
                this.d.notify("Verifying the data again.");
            }
            catch (err) {
                this.d.report(err, "Verify");
            }
        });
    }
    wireFiles() {
        const body = byId("files-body");
        body.addEventListener("change", (e) => {
            const sel = e.target;
            const index = sel.dataset["index"];
            if (index === undefined)
                return;
            void this.setPriorities({ [index]: sel.value });
        });
        byId("files-all").addEventListener("change", (e) => {
            const sel = e.target;
            const p = sel.value;
            sel.value = "";
            if (!p || this.files.length === 0)
                return;
            const all = {};
            for (const f of this.files)
                all[String(f.index)] = p;
            void this.setPriorities(all);
        });
        byId("files-more").addEventListener("click", () => {
            this.allFiles = true;
            this.filesOf = "";
            if (this.id)
                this.drawFiles(this.id, this.files);
        });
    }
    async setPriorities(p) {
        if (!this.id)
            return;
        const ok = await this.set({ file_priorities: p }, "Set file priority");
        if (!ok && this.id)
            this.drawFiles(this.id, this.files);
        this.refresh(true);
    }
    drawFiles(id, files) {
        this.files = files;
        const body = byId("files-body");
        const shown = this.allFiles ? files.length : Math.min(files.length, FILES_SHOWN);
        const key = `${id}:${files.length}:${shown}`;
        if (this.filesOf !== key) {
            this.filesOf = key;
            this.fileRows.clear();
            const rows = [];
            for (let i = 0; i < shown; i++) {
                const f = files[i];
                const prio = h("select", { "data-index": f.index, "aria-label": `Priority of ${f.path}` }, h("option", { value: "skip" }, "Skip"), h("option", { value: "normal" }, "Normal"), h("option", { value: "high" }, "High"));
                const done = h("td", { class: "num" });
                const tr = h("tr", { "data-index": f.index }, h("td", { class: "path" }, h("a", { href: fileURL(id, f.path), target: "_blank", rel: "noopener", title: `Open ${f.path}` }, f.path)), h("td", { class: "num" }, fmt.size(f.size)), done, h("td", null, prio));
                this.fileRows.set(f.index, { tr, done, prio });
                rows.push(tr);
            }
            body.replaceChildren(...rows);
            const more = byId("files-more");
            more.hidden = shown >= files.length;
            setText(more, `Show all ${files.length.toLocaleString()} files`);
        }
        let wanted = 0;
        let wantedSize = 0;
        for (const f of files) {
            if (f.priority !== "skip") {
                wanted++;
                wantedSize += f.size;
            }
            const r = this.fileRows.get(f.index);
            if (!r)
                continue;
            setText(r.done, f.size > 0 ? fmt.percentText(fmt.percent(f.completed, f.size)) : "100%");
            if (document.activeElement !== r.prio && r.prio.value !== f.priority)
                r.prio.value = f.priority;
            r.tr.classList.toggle("skipped", f.priority === "skip");
        }
        setText(byId("files-summary"), files.length === 0
            ? "No files yet: the metadata has not arrived."
            : `${wanted} of ${files.length} files wanted, ${fmt.size(wantedSize)}`);
    }
    drawPeers(peers) {
        const body = byId("peers-body");
        if (peers.length === 0) {
            body.replaceChildren(h("tr", null, h("td", { colspan: 8, class: "muted" }, "No connected peers.")));
            return;
        }
        peers.sort((a, b) => b.download_rate + b.upload_rate - (a.download_rate + a.upload_rate) || (a.address < b.address ? -1 : 1));
        body.replaceChildren(...peers.slice(0, 500).map((p) => h("tr", null, h("td", { class: "mono" }, p.address), h("td", null, p.client || "—"), h("td", null, `${p.source}${p.network ? ` · ${p.network}` : ""}`), h("td", { class: "num" }, fmt.percentText(Math.floor(p.progress * 1000) / 10)), h("td", { class: "num" }, fmt.rate(p.download_rate)), h("td", { class: "num" }, fmt.rate(p.upload_rate)), h("td", { class: "num" }, fmt.size(p.downloaded)), h("td", { class: "num" }, fmt.size(p.uploaded)))));
    }
    wireTrackers() {
        byId("f-trackers").addEventListener("submit", async (e) => {
            e.preventDefault();
            const id = this.id;
            const box = byId("d-trackers");
            const urls = box.value.split(/\s+/).map((s) => s.trim()).filter((s) => s !== "");
            if (!id || urls.length === 0)
                return;
            try {
                const r = await this.d.api.call("task.add_trackers", { task_id: id, urls });
                box.value = "";
                this.drawTrackers(id, r.trackers);
            }
            catch (err) {
                this.d.report(err, "Add trackers");
            }
        });
        byId("trackers-body").addEventListener("click", async (e) => {
            const b = e.target.closest("button[data-url]");
            const id = this.id;
            if (!b || !id)
                return;
            try {
                const r = await this.d.api.call("task.remove_trackers", { task_id: id, urls: [b.dataset["url"]] });
                this.drawTrackers(id, r.trackers);
            }
            catch (err) {
                this.d.report(err, "Remove tracker");
            }
        });
    }
    drawTrackers(id, trackers) {
        if (id !== this.id)
            return;
        const body = byId("trackers-body");
        if (trackers.length === 0) {
            body.replaceChildren(h("tr", null, h("td", { colspan: 7, class: "muted" }, "No trackers.")));
            return;
        }
        const n = (x) => (x >= 0 ? String(x) : "–");
        body.replaceChildren(...trackers.map((t) => h("tr", null, h("td", { class: "mono url" }, t.url), h("td", { class: `tr-${t.status}`, title: t.last_error ?? "" }, t.status.replace("_", " "), t.last_error ? h("div", { class: "note" }, t.last_error) : null), h("td", { class: "num" }, n(t.seeders)), h("td", { class: "num" }, n(t.leechers)), h("td", null, fmt.date(t.last_announce)), h("td", null, fmt.date(t.next_announce)), h("td", null, h("button", { type: "button", class: "small", "data-url": t.url, "aria-label": `Remove tracker ${t.url}` }, "Remove")))));
    }
    drawPieces(pieces, have) {
        const canvas = byId("pieces-map");
        let bits;
        try {
            const bin = atob(have);
            bits = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++)
                bits[i] = bin.charCodeAt(i);
        }
        catch {
            bits = new Uint8Array(0);
        }
        const got = (i) => ((bits[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
        let count = 0;
        for (let i = 0; i < pieces; i++)
            count += got(i);
        canvas.dataset["pieces"] = String(pieces);
        canvas.dataset["have"] = String(count);
        const summary = pieces === 0
            ? "No pieces yet: the metadata has not arrived."
            : `${count.toLocaleString()} of ${pieces.toLocaleString()} pieces verified (${fmt.percentText(fmt.percent(count, pieces))})`;
        setText(byId("pieces-summary"), summary);
        setAttr(canvas, "aria-label", `Pieces map: ${summary}`);
        const dpr = window.devicePixelRatio || 1;
        const width = Math.max(100, canvas.parentElement.clientWidth - 2);
        const cell = pieces <= 2000 ? 10 : pieces <= 8000 ? 6 : 4;
        let cols = Math.max(1, Math.floor(width / cell));
        const maxRows = Math.floor(240 / cell);
        let per = 1;
        if (Math.ceil(pieces / cols) > maxRows)
            per = Math.ceil(pieces / (cols * maxRows));
        const cellsN = Math.ceil(pieces / per);
        const rows = Math.max(1, Math.ceil(cellsN / cols));
        if (cellsN < cols)
            cols = Math.max(cellsN, 1);
        canvas.style.width = `${cols * cell}px`;
        canvas.style.height = `${rows * cell}px`;
        canvas.width = Math.round(cols * cell * dpr);
        canvas.height = Math.round(rows * cell * dpr);
        const ctx = canvas.getContext("2d");
        if (!ctx)
            return;
        ctx.scale(dpr, dpr);
        const haveC = cssVar("--piece-have") || "#2e7d32";
        const missC = cssVar("--piece-miss") || "#ddd";
        const gap = cell > 4 ? 1 : 0;
        for (let c = 0; c < cellsN; c++) {
            let n = 0;
            const lo = c * per;
            const hi = Math.min(pieces, lo + per);
            for (let i = lo; i < hi; i++)
                n += got(i);
            const x = (c % cols) * cell;
            const y = Math.floor(c / cols) * cell;
            ctx.globalAlpha = 1;
            ctx.fillStyle = missC;
            ctx.fillRect(x, y, cell - gap, cell - gap);
            if (n > 0) {
                ctx.globalAlpha = n / (hi - lo);
                ctx.fillStyle = haveC;
                ctx.fillRect(x, y, cell - gap, cell - gap);
            }
        }
        ctx.globalAlpha = 1;
    }
}
function showCategory(name) {
    const sel = byId("d-category");
    if (name && ![...sel.options].some((o) => o.value === name))
        sel.append(h("option", { value: name }, name));
    sel.value = name;
}
