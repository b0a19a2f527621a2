import { byId, h } from "./dom.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, emptyRow, fillCategories } from "./settings-page.js";
import { EV } from "./types.js";
const REREAD_DELAY = 300;
export class WatchPage {
    d;
    state = new PageState("sp-watch");
    timer;
    constructor(d) {
        this.d = d;
        byId("f-watch").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.add();
        });
    }
    async open() {
        this.categoriesChanged();
        if (!this.d.admin()) {
            this.state.blocked(NEEDS_ADMIN);
            return;
        }
        await this.load();
    }
    event(ev) {
        if (ev.name === EV.watchChanged || ev.name === EV.added)
            this.reread();
    }
    categoriesChanged() {
        fillCategories(byId("watch-category"), this.d.categories());
    }
    reread() {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.load(), REREAD_DELAY);
    }
    async load() {
        let list;
        try {
            list = (await this.d.api.call("watch.list")).watches ?? [];
        }
        catch (e) {
            this.state.failed(e, "watch.list", this.d.report, "Read the watch folders");
            return;
        }
        this.state.blocked("");
        const rows = list.map((w) => {
            const rm = h("button", { type: "button", class: "small danger", "aria-label": `Stop watching ${w.path}` }, "Remove");
            rm.addEventListener("click", () => {
                if (confirmClick(rm, "Stop watching?"))
                    void this.remove(w.path);
            });
            return h("tr", { "data-path": w.path }, cell(w.path, "path"), cell(w.category || "—"), cell(String(w.added), "num"), cell(String(w.invalid), "num"), cell(w.last_error ?? "", "error"), h("td", { class: "actions" }, rm));
        });
        byId("watch-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, "No folder is watched.")]));
    }
    async add() {
        const path = byId("watch-path").value.trim();
        const category = byId("watch-category").value;
        const ok = byId("watch-ok");
        ok.disabled = true;
        try {
            await this.d.api.call("watch.add", category ? { path, category } : { path });
            this.d.notify(`Watching ${path}.`);
            byId("watch-path").value = "";
        }
        catch (e) {
            this.d.report(e, `Watch ${path}`);
        }
        finally {
            ok.disabled = false;
        }
        await this.load();
    }
    async remove(path) {
        try {
            await this.d.api.call("watch.remove", { path });
            this.d.notify(`No longer watching ${path}.`);
        }
        catch (e) {
            this.d.report(e, `Stop watching ${path}`);
        }
        await this.load();
    }
}
