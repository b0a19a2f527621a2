import { ApiError } from "./conn.js";
import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, emptyRow, fillCategories } from "./settings-page.js";
import { errorText } from "./toast.js";
import { EV } from "./types.js";
const inp = (id) => byId(id);
const PREVIEW_DELAY = 250;
const REREAD_DELAY = 300;
const AFTER_ADD = [2000, 6000];
export class RssPage {
    d;
    state = new PageState("sp-rss");
    feeds = [];
    rules = [];
    itemsOf = "";
    editing = "";
    previewTimer;
    rereadTimer;
    previewSeq = 0;
    constructor(d) {
        this.d = d;
        byId("f-feed").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.addFeed();
        });
        byId("f-rule").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.saveRule();
        });
        byId("f-rule").addEventListener("input", () => this.queuePreview());
        byId("f-rule").addEventListener("change", () => this.queuePreview());
        byId("rule-new").addEventListener("click", () => this.edit(null));
        byId("feed-items-close").addEventListener("click", () => {
            this.itemsOf = "";
            byId("feed-items").hidden = true;
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
        const d = (ev.data ?? {});
        if (ev.name === EV.rssItem || (ev.name === EV.alert && !d["task_id"]))
            this.reread();
    }
    categoriesChanged() {
        fillCategories(byId("rule-category"), this.d.categories());
    }
    reread() {
        clearTimeout(this.rereadTimer);
        this.rereadTimer = setTimeout(() => void this.load(), REREAD_DELAY);
    }
    async load() {
        try {
            const [f, r] = await Promise.all([
                this.d.api.call("rss.list"),
                this.d.api.call("rss.rule.list"),
            ]);
            this.feeds = f.feeds ?? [];
            this.rules = r.rules ?? [];
        }
        catch (e) {
            this.state.failed(e, e instanceof ApiError ? e.method : "rss.list", this.d.report, "Read the RSS feeds");
            return;
        }
        this.state.blocked("");
        this.renderFeeds();
        this.renderRules();
        this.renderFeedChoice();
        if (this.itemsOf)
            void this.showItems(this.itemsOf);
        this.queuePreview();
    }
    feedName(id) {
        const f = this.feeds.find((x) => x.feed_id === id);
        return f ? f.title || f.url : id;
    }
    renderFeeds() {
        const rows = this.feeds.map((f) => {
            const items = h("button", { type: "button", class: "small", "aria-label": `Items of ${f.title || f.url}` }, "Items");
            items.addEventListener("click", () => void this.showItems(f.feed_id));
            const refresh = h("button", { type: "button", class: "small", "aria-label": `Refresh ${f.title || f.url}` }, "Refresh");
            refresh.addEventListener("click", () => void this.refresh(f, refresh));
            const rm = h("button", { type: "button", class: "small danger", "aria-label": `Remove ${f.title || f.url}` }, "Remove");
            rm.addEventListener("click", () => {
                if (confirmClick(rm, "Remove?"))
                    void this.removeFeed(f);
            });
            return h("tr", { "data-id": f.feed_id }, h("td", { class: "url" }, f.title ? h("span", null, f.title) : null, h("div", { class: "muted small-text" }, f.url)), cell(`${Math.round(f.interval_s / 60)} min`, "num"), cell(fmt.unix(f.last_fetch_at)), cell(String(f.items), "num"), cell(f.last_error || "", "error"), h("td", { class: "actions" }, items, refresh, rm));
        });
        byId("feed-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, "No feeds yet.")]));
    }
    renderRules() {
        const rows = this.rules.map((r) => {
            const edit = h("button", { type: "button", class: "small", "aria-label": `Edit rule ${r.name}` }, "Edit");
            edit.addEventListener("click", () => this.edit(r));
            const rm = h("button", { type: "button", class: "small danger", "aria-label": `Remove rule ${r.name}` }, "Remove");
            rm.addEventListener("click", () => {
                if (confirmClick(rm, "Remove?"))
                    void this.removeRule(r.name);
            });
            const opts = [r.enabled === false ? "disabled" : "", r.paused ? "paused" : "", r.dedupe_episodes ? "one per episode" : ""].filter(Boolean).join(", ");
            return h("tr", { "data-name": r.name }, cell(r.name), cell(r.include, "mono"), cell(r.exclude ?? "", "mono"), cell(r.feeds && r.feeds.length > 0 ? r.feeds.map((id) => this.feedName(id)).join(", ") : "all"), cell(r.category || "—"), cell(opts), h("td", { class: "actions" }, edit, rm));
        });
        byId("rule-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(7, "No rules yet.")]));
    }
    renderFeedChoice(ticked) {
        const box = byId("rule-feeds");
        const keep = ticked ?? [...box.querySelectorAll("input:checked")].map((i) => i.value);
        const legend = box.querySelector("legend");
        box.replaceChildren(legend, ...this.feeds.map((f) => h("label", { class: "check" }, h("input", { type: "checkbox", value: f.feed_id, checked: keep.includes(f.feed_id) }), f.title || f.url)));
    }
    async showItems(feedId) {
        this.itemsOf = feedId;
        let items;
        try {
            items = (await this.d.api.call("rss.items", { feed_id: feedId })).items ?? [];
        }
        catch (e) {
            this.d.report(e, `Read the items of ${this.feedName(feedId)}`);
            return;
        }
        if (this.itemsOf !== feedId)
            return;
        setText(byId("feed-items-title"), `Items of ${this.feedName(feedId)}`);
        byId("feed-items-body").replaceChildren(...(items.length > 0
            ? items.map((it) => h("tr", null, cell(it.title), cell(it.episode ?? ""), cell(fmt.unix(it.published_at, ""))))
            : [emptyRow(3, "No items (not fetched yet, or the feed is empty).")]));
        byId("feed-items").hidden = false;
    }
    async addFeed() {
        const url = inp("feed-url").value.trim();
        const mins = Number(inp("feed-interval").value || "30");
        if (!Number.isFinite(mins) || mins <= 0) {
            this.d.report(new Error("the interval must be a positive number of minutes"), `Add feed ${url}`);
            return;
        }
        const ok = byId("feed-ok");
        ok.disabled = true;
        try {
            const f = await this.d.api.call("rss.add", { url, interval_s: Math.round(mins * 60) });
            this.d.notify(`Feed added: ${f.url}. Its first fetch is under way.`);
            inp("feed-url").value = "";
            for (const ms of AFTER_ADD)
                setTimeout(() => this.reread(), ms);
        }
        catch (e) {
            this.d.report(e, `Add feed ${url}`);
        }
        finally {
            ok.disabled = false;
        }
        await this.load();
    }
    async refresh(f, btn) {
        btn.disabled = true;
        try {
            await this.d.api.call("rss.refresh", { feed_id: f.feed_id });
            this.d.notify(`Fetched ${f.title || f.url}.`);
        }
        catch (e) {
            this.d.report(e, `Fetch ${f.title || f.url}`);
        }
        finally {
            btn.disabled = false;
        }
        await this.load();
    }
    async removeFeed(f) {
        try {
            await this.d.api.call("rss.remove", { feed_id: f.feed_id });
            this.d.notify(`Feed removed: ${f.title || f.url}.`);
            if (this.itemsOf === f.feed_id) {
                this.itemsOf = "";
                byId("feed-items").hidden = true;
            }
        }
        catch (e) {
            this.d.report(e, `Remove feed ${f.title || f.url}`);
        }
        await this.load();
    }
    edit(r) {
        this.editing = r?.name ?? "";
        inp("rule-name").value = r?.name ?? "";
        inp("rule-name").readOnly = r !== null;
        inp("rule-include").value = r?.include ?? "";
        inp("rule-exclude").value = r?.exclude ?? "";
        fillCategories(byId("rule-category"), this.d.categories(), r?.category ?? "");
        inp("rule-dedupe").checked = r?.dedupe_episodes ?? false;
        inp("rule-paused").checked = r?.paused ?? false;
        inp("rule-enabled").checked = r?.enabled ?? true;
        this.renderFeedChoice(r?.feeds ?? []);
        setText(byId("rule-form-title"), r ? `Edit rule “${r.name}”` : "New rule");
        byId("rule-new").hidden = r === null;
        (r ? inp("rule-include") : inp("rule-name")).focus();
        this.queuePreview();
    }
    formRule() {
        const r = {
            name: inp("rule-name").value.trim(),
            include: inp("rule-include").value,
            feeds: [...byId("rule-feeds").querySelectorAll("input:checked")].map((i) => i.value),
            dedupe_episodes: inp("rule-dedupe").checked,
            paused: inp("rule-paused").checked,
            enabled: inp("rule-enabled").checked,
        };
        const ex = inp("rule-exclude").value;
        if (ex.trim())
            r.exclude = ex;
        const cat = byId("rule-category").value;
        if (cat)
            r.category = cat;
        return r;
    }
    async saveRule() {
        const r = this.formRule();
        const ok = byId("rule-ok");
        ok.disabled = true;
        try {
            await this.d.api.call("rss.rule.set", r);
            this.d.notify(`Rule ${r.name} saved.`);
            this.editing = r.name;
            inp("rule-name").readOnly = true;
            setText(byId("rule-form-title"), `Edit rule “${r.name}”`);
            byId("rule-new").hidden = false;
        }
        catch (e) {
            this.d.report(e, `Save rule ${r.name}`);
        }
        finally {
            ok.disabled = false;
        }
        await this.load();
    }
    async removeRule(name) {
        try {
            await this.d.api.call("rss.rule.remove", { name });
            this.d.notify(`Rule ${name} removed.`);
            if (this.editing === name)
                this.edit(null);
        }
        catch (e) {
            this.d.report(e, `Remove rule ${name}`);
        }
        await this.load();
    }
    queuePreview() {
        clearTimeout(this.previewTimer);
        this.previewTimer = setTimeout(() => void this.preview(), PREVIEW_DELAY);
    }
    async preview() {
        const seq = ++this.previewSeq;
        const status = byId("rule-preview-status");
        const body = byId("rule-preview-body");
        const r = this.formRule();
        if (r.include.trim() === "") {
            status.classList.remove("error");
            setText(status, "Type an include pattern to see the fetched items it matches.");
            body.replaceChildren();
            return;
        }
        let items;
        try {
            items = (await this.d.api.call("rss.preview", { rule: r })).items ?? [];
        }
        catch (e) {
            if (seq !== this.previewSeq)
                return;
            status.classList.add("error");
            setText(status, e instanceof ApiError && e.code === 102 ? "Preview is not available on this daemon (it does not know rss.preview)." : errorText(e, "Preview"));
            body.replaceChildren();
            return;
        }
        if (seq !== this.previewSeq)
            return;
        status.classList.remove("error");
        const added = items.filter((i) => i.added).length;
        setText(status, items.length === 0 ? "No fetched item matches." : `${items.length} fetched item${items.length === 1 ? "" : "s"} match${items.length === 1 ? "es" : ""}${added ? ` (${added} already added)` : ""}.`);
        body.replaceChildren(...items.map((it) => h("tr", { class: it.added ? "done" : null }, cell(it.title), cell(it.episode ?? ""), cell(this.feedName(it.feed_id)), cell(it.added ? "yes" : "no"))));
    }
}
