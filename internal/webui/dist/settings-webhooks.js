import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, copyText, emptyRow } from "./settings-page.js";
import { EPHEMERAL } from "./types.js";
const REREAD_DELAY = 700;
export class WebhooksPage {
    d;
    state = new PageState("sp-webhooks");
    hooks = [];
    deliveriesOf = "";
    timer;
    constructor(d) {
        this.d = d;
        byId("f-hook").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.add();
        });
        byId("hook-all").addEventListener("change", () => this.syncAll());
        byId("hook-secret-copy").addEventListener("click", () => void copyText(byId("hook-secret-value"), d));
        byId("hook-secret-done").addEventListener("click", () => this.hideSecret());
        byId("hook-deliveries-refresh").addEventListener("click", () => void this.showDeliveries(this.deliveriesOf));
        byId("hook-deliveries-close").addEventListener("click", () => {
            this.deliveriesOf = "";
            byId("hook-deliveries").hidden = true;
        });
    }
    async open() {
        this.renderEventChoice();
        if (!this.d.admin()) {
            this.state.blocked(NEEDS_ADMIN);
            return;
        }
        await this.load();
    }
    event(ev) {
        if (EPHEMERAL.has(ev.name))
            return;
        if (this.hooks.some((w) => w.events.includes("*") || w.events.includes(ev.name))) {
            clearTimeout(this.timer);
            this.timer = setTimeout(() => void this.load(), REREAD_DELAY);
        }
    }
    categoriesChanged() { }
    renderEventChoice() {
        const box = byId("hook-events");
        if (box.querySelectorAll("input[data-event]").length > 0)
            return;
        const names = this.d.eventNames().filter((n) => !EPHEMERAL.has(n));
        box.append(...names.map((n) => h("label", { class: "check" }, h("input", { type: "checkbox", value: n, "data-event": true }), h("code", null, n))));
    }
    syncAll() {
        const all = byId("hook-all").checked;
        for (const i of byId("hook-events").querySelectorAll("input[data-event]"))
            i.disabled = all;
    }
    async load() {
        try {
            this.hooks = (await this.d.api.call("webhook.list")).webhooks ?? [];
        }
        catch (e) {
            this.state.failed(e, "webhook.list", this.d.report, "Read the webhooks");
            return;
        }
        this.state.blocked("");
        const rows = this.hooks.map((w) => {
            const del = h("button", { type: "button", class: "small", "aria-label": `Deliveries to ${w.url}` }, "Deliveries");
            del.addEventListener("click", () => void this.showDeliveries(w.webhook_id));
            const rm = h("button", { type: "button", class: "small danger", "aria-label": `Remove the webhook to ${w.url}` }, "Remove");
            rm.addEventListener("click", () => {
                if (confirmClick(rm, "Remove?"))
                    void this.remove(w);
            });
            return h("tr", { "data-id": w.webhook_id }, cell(w.url, "url"), cell(w.events.includes("*") ? "all" : w.events.join(", ")), cell(String(w.pending ?? 0), "num"), cell(w.last_status ? String(w.last_status) : "—"), cell(fmt.unix(w.last_delivery_at)), h("td", { class: "actions" }, del, rm));
        });
        byId("hook-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, "No webhooks yet.")]));
        if (this.deliveriesOf)
            await this.showDeliveries(this.deliveriesOf);
    }
    async showDeliveries(id) {
        if (!id)
            return;
        this.deliveriesOf = id;
        let list;
        try {
            list = (await this.d.api.call("webhook.deliveries", { webhook_id: id })).deliveries ?? [];
        }
        catch (e) {
            this.d.report(e, "Read the deliveries");
            return;
        }
        if (this.deliveriesOf !== id)
            return;
        const w = this.hooks.find((x) => x.webhook_id === id);
        setText(byId("hook-deliveries-title"), `Recent deliveries to ${w?.url ?? id}`);
        byId("hook-deliveries-body").replaceChildren(...(list.length > 0
            ? list.map((x) => h("tr", { "data-event-id": x.event_id, "data-state": x.state }, h("td", null, h("code", null, x.event), h("div", { class: "muted small-text" }, `#${x.event_id}`)), cell(x.state, `d-${x.state}`), cell(x.status ? String(x.status) : "—", "num"), cell(String(x.attempts), "num"), cell(fmt.unix(x.last_attempt_at, "—")), cell(x.state === "pending" ? fmt.unix(x.next_attempt_at, "—") : ""), cell(x.error ?? "", "error")))
            : [emptyRow(7, "No deliveries yet: they appear when an event it takes happens.")]));
        byId("hook-deliveries").hidden = false;
    }
    async add() {
        const url = byId("hook-url").value.trim();
        const events = byId("hook-all").checked
            ? ["*"]
            : [...byId("hook-events").querySelectorAll("input[data-event]:checked")].map((i) => i.value);
        if (events.length === 0) {
            this.d.report(new Error("choose at least one event (or All events)"), `Add webhook ${url}`);
            return;
        }
        const secret = byId("hook-secret-in").value;
        const ok = byId("hook-ok");
        ok.disabled = true;
        try {
            const w = await this.d.api.call("webhook.add", secret ? { url, events, secret } : { url, events });
            byId("hook-url").value = "";
            byId("hook-secret-in").value = "";
            for (const i of byId("hook-events").querySelectorAll("input"))
                i.checked = false;
            this.syncAll();
            setText(byId("hook-secret-value"), w.secret);
            byId("hook-secret").hidden = false;
            this.d.notify(`Webhook added: ${w.url}.`);
        }
        catch (e) {
            this.d.report(e, `Add webhook ${url}`);
        }
        finally {
            ok.disabled = false;
        }
        await this.load();
    }
    hideSecret() {
        setText(byId("hook-secret-value"), "");
        byId("hook-secret").hidden = true;
    }
    async remove(w) {
        try {
            await this.d.api.call("webhook.remove", { webhook_id: w.webhook_id });
            this.d.notify(`Webhook removed: ${w.url}.`);
            if (this.deliveriesOf === w.webhook_id) {
                this.deliveriesOf = "";
                byId("hook-deliveries").hidden = true;
            }
        }
        catch (e) {
            this.d.report(e, `Remove the webhook to ${w.url}`);
        }
        await this.load();
    }
}
