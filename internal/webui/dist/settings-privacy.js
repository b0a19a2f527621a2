import { byId, setText } from "./dom.js";
import { NEEDS_ADMIN, PageState } from "./settings-page.js";
const inp = (id) => byId(id);
export class PrivacyPage {
    d;
    state = new PageState("sp-privacy");
    constructor(d) {
        this.d = d;
        byId("f-privacy").addEventListener("submit", (e) => {
            e.preventDefault();
            void this.save();
        });
    }
    async open() {
        if (!this.d.admin()) {
            this.state.blocked(NEEDS_ADMIN);
            return;
        }
        let s;
        try {
            s = await this.d.api.call("session.get");
        }
        catch (e) {
            this.state.failed(e, "session.get", this.d.report, "Read the privacy settings");
            return;
        }
        if (s.encryption === undefined) {
            this.state.blocked("Not available on this daemon: its session.get has no network settings.");
            return;
        }
        this.state.blocked("");
        this.fill(s);
    }
    event() { }
    categoriesChanged() { }
    fill(s) {
        inp("p-iface").value = s.bind_interface;
        inp("p-addr").value = s.bind_address;
        inp("p-proxy").value = s.proxy;
        inp("p-proxy-only").checked = s.proxy_only;
        byId("p-enc").value = s.encryption;
        inp("p-anon").checked = s.anonymous;
        const pending = s.restart_required ?? [];
        const note = byId("p-restart");
        note.hidden = pending.length === 0;
        setText(note, pending.length ? `Saved, but in force only after the daemon restarts: ${pending.join(", ")}.` : "");
    }
    async save() {
        const params = {
            bind_interface: inp("p-iface").value.trim(),
            bind_address: inp("p-addr").value.trim(),
            proxy: inp("p-proxy").value.trim(),
            proxy_only: inp("p-proxy-only").checked,
            encryption: byId("p-enc").value,
            anonymous: inp("p-anon").checked,
        };
        const ok = byId("p-save");
        ok.disabled = true;
        try {
            const s = await this.d.api.call("session.set", params);
            this.fill(s);
            this.d.notify((s.restart_required ?? []).length ? "Privacy settings saved; some take a restart." : "Privacy settings saved and in force.");
        }
        catch (e) {
            this.d.report(e, "Save privacy settings");
        }
        finally {
            ok.disabled = false;
        }
    }
}
