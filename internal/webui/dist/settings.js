import { byId, setText } from "./dom.js";
import * as fmt from "./format.js";
import { CategoriesPage } from "./settings-categories.js";
import { KeysPage } from "./settings-keys.js";
import { PrivacyPage } from "./settings-privacy.js";
import { RssPage } from "./settings-rss.js";
import { WatchPage } from "./settings-watch.js";
import { WebhooksPage } from "./settings-webhooks.js";
const inp = (id) => byId(id);
export const PAGES = ["general", "categories", "watch", "rss", "webhooks", "keys", "privacy"];
export class SettingsDialog {
    d;
    dlg = byId("dlg-settings");
    page = "general";
    pages;
    cats = [];
    scope = "";
    constructor(d) {
        this.d = d;
        byId("settings-cancel").addEventListener("click", () => this.dlg.close());
        byId("settings-close").addEventListener("click", () => this.dlg.close());
        byId("settings-form").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.save();
        });
        const deps = {
            api: d.api, report: d.report, notify: d.notify,
            categories: () => this.cats,
            eventNames: d.eventNames,
            admin: () => this.isAdmin,
        };
        this.pages = {
            categories: new CategoriesPage(deps),
            watch: new WatchPage(deps),
            rss: new RssPage(deps),
            webhooks: new WebhooksPage(deps),
            keys: new KeysPage(deps),
            privacy: new PrivacyPage(deps),
        };
        this.dlg.addEventListener("close", () => {
            for (const [box, value] of [["hook-secret", "hook-secret-value"], ["key-once", "key-value"]]) {
                byId(value).textContent = "";
                byId(box).hidden = true;
            }
        });
        const tabs = this.dlg.querySelector(".settings-tabs");
        tabs.addEventListener("click", (e) => {
            const b = e.target.closest("[data-page]");
            if (b)
                this.show(b.dataset["page"]);
        });
        tabs.addEventListener("keydown", (e) => {
            const i = PAGES.indexOf(this.page);
            let n = -1;
            if (e.key === "ArrowRight")
                n = (i + 1) % PAGES.length;
            else if (e.key === "ArrowLeft")
                n = (i + PAGES.length - 1) % PAGES.length;
            else if (e.key === "Home")
                n = 0;
            else if (e.key === "End")
                n = PAGES.length - 1;
            if (n < 0)
                return;
            e.preventDefault();
            this.show(PAGES[n]);
            byId(`st-${PAGES[n]}`).focus();
        });
    }
    get isOpen() {
        return this.dlg.open;
    }
    get isAdmin() {
        return this.scope === "" || this.scope === "admin";
    }
    setScope(scope) {
        this.scope = scope ?? "";
        const note = byId("scope-note");
        note.hidden = this.isAdmin;
        setText(note, this.isAdmin ? "" : `This page logged in with an API key of scope “${this.scope}”: settings are read-only, and watch folders, RSS, webhooks and API keys need an admin key.`);
        for (const f of this.dlg.querySelectorAll("form")) {
            for (const el of f.elements)
                el.disabled = !this.isAdmin && el.id !== "settings-cancel";
        }
    }
    setCategories(cats) {
        this.cats = cats;
        for (const p of Object.values(this.pages))
            p.categoriesChanged();
    }
    event(ev) {
        if (!this.dlg.open || this.page === "general")
            return;
        this.pages[this.page].event(ev);
    }
    show(page) {
        this.page = page;
        for (const p of PAGES) {
            const b = byId(`st-${p}`);
            b.setAttribute("aria-selected", String(p === page));
            b.tabIndex = p === page ? 0 : -1;
            byId(`sp-${p}`).hidden = p !== page;
        }
        if (page !== "general")
            void this.pages[page].open();
    }
    async open(page = "general") {
        let s;
        let info = null;
        try {
            [s, info] = await Promise.all([
                this.d.api.call("session.get"),
                this.d.api.call("server.info").catch(() => null),
            ]);
        }
        catch (e) {
            this.d.report(e, "Read settings");
            return;
        }
        this.d.saved(s);
        this.fill(s);
        if (info)
            this.setScope(info.scope);
        setText(byId("s-about"), info ? `Lodestone ${info.version} · API ${info.api_version} · engine ${info.engine_version} · up ${fmt.duration(info.uptime_seconds)}` : "");
        if (!this.dlg.open)
            this.dlg.showModal();
        this.show(page);
        if (page === "general")
            inp("s-dl").focus();
        else
            byId(`st-${page}`).focus();
    }
    fill(s) {
        inp("s-dl").value = fmt.bytesToKib(s.download_rate_limit);
        inp("s-ul").value = fmt.bytesToKib(s.upload_rate_limit);
        inp("s-maxdl").value = String(s.max_active_downloads);
        inp("s-maxseed").value = String(s.max_active_seeds);
        inp("s-ratio").value = String(s.seed_ratio_limit);
        inp("s-time").value = String(Math.round(s.seed_time_limit / 60));
        inp("s-dir").value = s.download_dir;
        inp("s-port").value = String(s.peer_port);
    }
    async save() {
        const num = (id, int) => {
            const v = inp(id).value.trim();
            const n = v === "" ? 0 : Number(v);
            if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) {
                throw new Error(`${byId(id).previousElementSibling?.textContent ?? id}: must be 0 or a positive ${int ? "whole " : ""}number`);
            }
            return n;
        };
        let params;
        try {
            const dl = fmt.kibToBytes(inp("s-dl").value);
            const ul = fmt.kibToBytes(inp("s-ul").value);
            if (Number.isNaN(dl) || Number.isNaN(ul))
                throw new Error("rate limits must be 0 (none) or a positive number of KiB/s");
            params = {
                download_rate_limit: dl,
                upload_rate_limit: ul,
                max_active_downloads: num("s-maxdl", true),
                max_active_seeds: num("s-maxseed", true),
                seed_ratio_limit: num("s-ratio", false),
                seed_time_limit: num("s-time", false) * 60,
                download_dir: inp("s-dir").value.trim(),
                peer_port: num("s-port", true),
            };
            params.seed_time_limit = Math.round(params.seed_time_limit ?? 0);
        }
        catch (e) {
            this.d.report(e, "Save settings");
            return;
        }
        const ok = byId("settings-ok");
        ok.disabled = true;
        try {
            const s = await this.d.api.call("session.set", params);
            this.d.saved(s);
            this.fill(s);
            this.dlg.close();
            this.d.notify("Settings saved.");
        }
        catch (e) {
            this.d.report(e, "Save settings");
        }
        finally {
            ok.disabled = false;
        }
    }
}
