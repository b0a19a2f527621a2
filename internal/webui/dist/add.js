import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
const MAX_TORRENT = 10 << 20;
function readBase64(f) {
    return new Promise((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => {
            const s = String(r.result);
            resolve(s.slice(s.indexOf(",") + 1));
        };
        r.onerror = () => reject(r.error ?? new Error(`cannot read ${f.name}`));
        r.readAsDataURL(f);
    });
}
export function lineItem(line) {
    const s = line.trim();
    if (/^magnet:/i.test(s))
        return { label: s.length > 60 ? `${s.slice(0, 57)}…` : s, type: "magnet", data: s, line: s };
    if (/^https?:\/\//i.test(s))
        return { label: s, type: "url", data: s, line: s };
    if (/^([0-9a-f]{40}|[a-z2-7]{32})$/i.test(s))
        return { label: s, type: "magnet", data: `magnet:?xt=urn:btih:${s}`, line: s };
    return null;
}
export class AddDialog {
    d;
    dlg = byId("dlg-add");
    files = [];
    queue = [];
    total = 0;
    cur = null;
    curFiles = [];
    busy = false;
    constructor(d) {
        this.d = d;
        byId("add-form").addEventListener("submit", (e) => {
            e.preventDefault();
            void (this.cur ? this.startCurrent() : this.addAll());
        });
        byId("add-cancel").addEventListener("click", () => void this.cancel());
        this.dlg.addEventListener("cancel", (e) => {
            if (this.busy) {
                e.preventDefault();
                return;
            }
            this.leavePaused();
        });
        byId("add-file").addEventListener("change", (e) => {
            const input = e.target;
            this.addFiles([...(input.files ?? [])]);
            input.value = "";
        });
        const zone = byId("add-drop");
        zone.addEventListener("dragover", (e) => {
            e.preventDefault();
            zone.classList.add("over");
        });
        zone.addEventListener("dragleave", () => zone.classList.remove("over"));
        zone.addEventListener("drop", (e) => {
            e.preventDefault();
            e.stopPropagation();
            zone.classList.remove("over");
            this.take(e.dataTransfer);
        });
        byId("add-files").addEventListener("click", (e) => {
            const b = e.target.closest("button[data-i]");
            if (!b)
                return;
            this.files.splice(Number(b.dataset["i"]), 1);
            this.drawChosen();
        });
        byId("add-all").addEventListener("click", () => this.checkAll(true));
        byId("add-none").addEventListener("click", () => this.checkAll(false));
        byId("add-tree").addEventListener("change", () => this.summarize());
        for (const id of ["add-start", "add-choose"])
            byId(id).addEventListener("change", () => this.labelAdd());
    }
    labelAdd() {
        if (this.cur)
            return;
        const start = byId("add-start").checked;
        const choose = byId("add-choose").checked;
        setText(byId("add-ok"), choose ? "Next: choose files" : start ? "Add" : "Add paused");
    }
    get isOpen() {
        return this.dlg.open;
    }
    open(files = [], text = "") {
        if (this.dlg.open) {
            if (!this.cur) {
                this.addFiles(files);
                this.addText(text);
            }
            return;
        }
        this.files = [];
        this.queue = [];
        this.cur = null;
        byId("add-links").value = "";
        byId("add-dir").value = "";
        byId("add-dir").placeholder = this.d.defaultDir() || "the default download dir";
        byId("add-labels").value = "";
        byId("add-category").value = "";
        this.addFiles(files);
        this.addText(text);
        this.step(1);
        this.dlg.showModal();
        byId(files.length > 0 ? "add-ok" : "add-links").focus();
    }
    take(dt) {
        if (!dt)
            return;
        this.addFiles([...dt.files]);
        if (dt.files.length === 0)
            this.addText(dt.getData("text/uri-list") || dt.getData("text/plain"));
    }
    addFiles(files) {
        for (const f of files) {
            if (!/\.torrent$/i.test(f.name) && f.type !== "application/x-bittorrent") {
                this.d.report(new Error(`${f.name} is not a .torrent file`), "Add");
                continue;
            }
            if (!this.files.some((g) => g.name === f.name && g.size === f.size))
                this.files.push(f);
        }
        this.drawChosen();
    }
    addText(text) {
        const lines = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== "" && !s.startsWith("#"));
        if (lines.length === 0)
            return;
        const box = byId("add-links");
        box.value = [box.value.trim(), ...lines].filter((s) => s !== "").join("\n");
    }
    drawChosen() {
        byId("add-files").replaceChildren(...this.files.map((f, i) => h("li", null, f.name, " ", h("span", { class: "muted" }, fmt.size(f.size)), " ", h("button", { type: "button", class: "small", "data-i": i, "aria-label": `Don't add ${f.name}` }, "✕"))));
    }
    step(n) {
        byId("add-step1").hidden = n !== 1;
        byId("add-step2").hidden = n !== 2;
        setText(byId("add-title"), n === 1 ? "Add torrents" : "Choose files");
        setText(byId("add-cancel"), n === 1 ? "Cancel" : "Don't add");
        if (n === 1)
            this.labelAdd();
    }
    setBusy(b, label) {
        this.busy = b;
        const ok = byId("add-ok");
        ok.disabled = b;
        byId("add-cancel").disabled = b;
        if (label)
            setText(ok, label);
    }
    async addAll() {
        if (this.busy)
            return;
        const items = [];
        const bad = [];
        for (const f of this.files)
            items.push({ label: f.name, type: "torrent", data: "", file: f });
        for (const line of byId("add-links").value.split(/\r?\n/)) {
            if (line.trim() === "")
                continue;
            const it = lineItem(line);
            if (it)
                items.push(it);
            else
                bad.push(line.trim());
        }
        if (bad.length > 0) {
            this.d.report(new Error(`not a magnet link, info-hash or http(s) URL: ${bad[0]}`), "Add");
            return;
        }
        if (items.length === 0) {
            this.d.report(new Error("paste a magnet link or URL, or choose a .torrent file"), "Add");
            return;
        }
        const dir = byId("add-dir").value.trim();
        const labels = byId("add-labels").value.split(",").map((s) => s.trim()).filter((s) => s !== "");
        const choose = byId("add-choose").checked;
        const start = byId("add-start").checked;
        const seq = byId("add-seq").checked;
        const category = byId("add-category").value;
        const known = new Set(this.d.store.rows.keys());
        const failed = [];
        let added = 0;
        this.setBusy(true, "Adding…");
        for (const it of items) {
            try {
                let data = it.data;
                if (it.file) {
                    if (it.file.size > MAX_TORRENT)
                        throw new Error(`${it.file.name} is over 10 MiB`);
                    data = await readBase64(it.file);
                }
                const params = { type: it.type, data, paused: choose || !start };
                if (dir)
                    params["download_dir"] = dir;
                if (labels.length > 0)
                    params["labels"] = labels;
                if (seq)
                    params["sequential"] = true;
                if (category)
                    params["category"] = category;
                const res = await this.d.api.call("task.add", params);
                if (known.has(res.task_id)) {
                    this.d.notify(`Already added: ${res.name}`);
                    continue;
                }
                known.add(res.task_id);
                added++;
                if (choose)
                    this.queue.push({ id: res.task_id, name: res.name, start });
            }
            catch (e) {
                this.d.report(e, `Add ${it.label}`);
                failed.push(it);
            }
        }
        this.setBusy(false);
        this.labelAdd();
        this.files = failed.flatMap((it) => (it.file ? [it.file] : []));
        this.drawChosen();
        byId("add-links").value = failed.flatMap((it) => (it.line ? [it.line] : [])).join("\n");
        if (this.queue.length > 0) {
            this.total = this.queue.length;
            this.step(2);
            void this.next();
            return;
        }
        if (added > 0)
            this.d.notify(added === 1 ? "Torrent added." : `${added} torrents added.`);
        if (failed.length === 0)
            this.dlg.close();
    }
    async next() {
        const p = this.queue.shift();
        this.cur = p ?? null;
        if (!p) {
            this.dlg.close();
            return;
        }
        const k = this.total - this.queue.length;
        setText(byId("add-which"), `${p.name}${this.total > 1 ? ` (${k} of ${this.total})` : ""}`);
        setText(byId("add-ok"), p.start ? "Start" : "Add paused");
        byId("add-wait").hidden = true;
        byId("add-pick").hidden = true;
        byId("add-ok").disabled = true;
        await this.loadFiles();
    }
    async loadFiles() {
        const p = this.cur;
        if (!p)
            return;
        let files;
        try {
            files = (await this.d.api.call("task.files", { task_id: p.id })).files;
        }
        catch (e) {
            this.d.report(e, `Files of ${p.name}`);
            return;
        }
        if (this.cur !== p)
            return;
        if (files.length === 0) {
            byId("add-wait").hidden = false;
            byId("add-ok").disabled = false;
            setText(byId("add-ok"), p.start ? "Start without choosing" : "Add paused");
            return;
        }
        this.curFiles = files;
        byId("add-wait").hidden = true;
        byId("add-pick").hidden = false;
        byId("add-ok").disabled = false;
        setText(byId("add-ok"), p.start ? "Start" : "Add paused");
        byId("add-tree").replaceChildren(...files.map((f) => {
            const id = `pick-${f.index}`;
            return h("li", null, h("input", { type: "checkbox", id, "data-index": f.index, checked: f.priority !== "skip" }), h("label", { for: id }, f.path, " ", h("span", { class: "muted" }, fmt.size(f.size))));
        }));
        this.summarize();
    }
    changed(name, id) {
        const p = this.cur;
        if (!p || p.id !== id)
            return;
        if (name === "task.metadata")
            void this.loadFiles();
        else if (name === "task.removed")
            void this.next();
    }
    boxes() {
        return [...byId("add-tree").querySelectorAll("input[type=checkbox]")];
    }
    checkAll(on) {
        for (const b of this.boxes())
            b.checked = on;
        this.summarize();
    }
    summarize() {
        let n = 0;
        let bytes = 0;
        for (const b of this.boxes()) {
            if (!b.checked)
                continue;
            n++;
            bytes += this.curFiles.find((f) => f.index === Number(b.dataset["index"]))?.size ?? 0;
        }
        setText(byId("add-summary"), `${n} of ${this.curFiles.length} files, ${fmt.size(bytes)}`);
    }
    async startCurrent() {
        const p = this.cur;
        if (!p || this.busy)
            return;
        const boxes = this.boxes();
        const skip = {};
        let wanted = 0;
        for (const b of boxes) {
            if (b.checked)
                wanted++;
            else
                skip[b.dataset["index"]] = "skip";
        }
        if (boxes.length > 0 && wanted === 0) {
            this.d.report(new Error("choose at least one file (or “Don't add”)"), "Start");
            return;
        }
        this.setBusy(true);
        try {
            if (Object.keys(skip).length > 0)
                await this.d.api.call("task.set", { task_id: p.id, file_priorities: skip });
            if (p.start)
                await this.d.api.call("task.resume", { task_id: p.id });
        }
        catch (e) {
            this.d.report(e, `Start ${p.name}`);
            this.setBusy(false);
            return;
        }
        this.setBusy(false);
        await this.next();
    }
    async cancel() {
        if (this.busy)
            return;
        const p = this.cur;
        if (!p) {
            this.dlg.close();
            return;
        }
        this.setBusy(true);
        try {
            await this.d.api.call("task.remove", { task_id: p.id, delete_data: false });
        }
        catch (e) {
            this.d.report(e, `Remove ${p.name}`);
        }
        this.setBusy(false);
        await this.next();
    }
    leavePaused() {
        const left = [this.cur, ...this.queue].filter((p) => p !== null);
        this.cur = null;
        this.queue = [];
        if (left.length > 0)
            this.d.notify(`Left paused: ${left.map((p) => p.name).join(", ")}. Resume when ready.`);
    }
}
