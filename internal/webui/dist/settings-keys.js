import { byId, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, copyText, emptyRow } from "./settings-page.js";
export class KeysPage {
    d;
    state = new PageState("sp-keys");
    constructor(d) {
        this.d = d;
        byId("f-key").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.create();
        });
        byId("key-copy").addEventListener("click", () => void copyText(byId("key-value"), d));
        byId("key-done").addEventListener("click", () => {
            setText(byId("key-value"), "");
            byId("key-once").hidden = true;
        });
    }
    async open() {
        if (!this.d.admin()) {
            this.state.blocked(NEEDS_ADMIN);
            return;
        }
        await this.load();
    }
    event(_ev) { }
    categoriesChanged() { }
    async load() {
        let keys;
        try {
            keys = (await this.d.api.call("key.list")).keys ?? [];
        }
        catch (e) {
            this.state.failed(e, "key.list", this.d.report, "Read the API keys");
            return;
        }
        this.state.blocked("");
        const rows = keys.map((k) => {
            const rm = h("button", { type: "button", class: "small danger", "aria-label": `Revoke key ${k.name}` }, "Revoke");
            rm.addEventListener("click", () => {
                if (confirmClick(rm, "Revoke?"))
                    void this.revoke(k);
            });
            return h("tr", { "data-id": k.key_id }, cell(k.name), cell(k.scope), cell(fmt.unix(k.created_at, "—")), cell(fmt.unix(k.last_used_at)), h("td", { class: "actions" }, rm));
        });
        byId("key-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(5, "No API keys yet: programs use the token.")]));
    }
    async create() {
        const name = byId("key-name").value.trim();
        const scope = byId("key-scope").value;
        const ok = byId("key-ok");
        ok.disabled = true;
        try {
            const k = await this.d.api.call("key.create", { name, scope });
            byId("key-name").value = "";
            setText(byId("key-value"), k.key);
            byId("key-once").hidden = false;
            byId("key-copy").focus();
        }
        catch (e) {
            this.d.report(e, `Create key ${name}`);
        }
        finally {
            ok.disabled = false;
        }
        await this.load();
    }
    async revoke(k) {
        try {
            await this.d.api.call("key.revoke", { key_id: k.key_id });
            this.d.notify(`Key ${k.name} revoked.`);
        }
        catch (e) {
            this.d.report(e, `Revoke key ${k.name}`);
        }
        await this.load();
    }
}
