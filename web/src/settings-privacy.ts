// The Privacy page of the Settings dialog: the network settings of
// session.get and session.set (bind interface and address, SOCKS5 proxy,
// encryption, anonymous mode; docs/PRIVACY.md). The daemon applies them at
// once where its engine can, and lists the others in restart_required,
// which the page shows. The proxy comes with its password masked; sending
// the masked URL back keeps the password.

import { byId, setText } from "./dom.js";
import { NEEDS_ADMIN, PageState, type Page, type PageDeps } from "./settings-page.js";
import type { Settings } from "./types.js";

const inp = (id: string) => byId<HTMLInputElement>(id);

export class PrivacyPage implements Page {
  private readonly state = new PageState("sp-privacy");

  constructor(private readonly d: PageDeps) {
    byId("f-privacy").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
  }

  async open(): Promise<void> {
    if (!this.d.admin()) {
      this.state.blocked(NEEDS_ADMIN);
      return;
    }
    let s: Settings;
    try {
      s = await this.d.api.call<Settings>("session.get");
    } catch (e) {
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

  event(): void {}

  categoriesChanged(): void {}

  private fill(s: Settings): void {
    inp("p-iface").value = s.bind_interface;
    inp("p-addr").value = s.bind_address;
    inp("p-proxy").value = s.proxy;
    inp("p-proxy-only").checked = s.proxy_only;
    byId<HTMLSelectElement>("p-enc").value = s.encryption;
    inp("p-anon").checked = s.anonymous;
    const pending = s.restart_required ?? [];
    const note = byId("p-restart");
    note.hidden = pending.length === 0;
    setText(note, pending.length ? `Saved, but in force only after the daemon restarts: ${pending.join(", ")}.` : "");
  }

  private async save(): Promise<void> {
    const params: Partial<Settings> = {
      bind_interface: inp("p-iface").value.trim(),
      bind_address: inp("p-addr").value.trim(),
      proxy: inp("p-proxy").value.trim(),
      proxy_only: inp("p-proxy-only").checked,
      encryption: byId<HTMLSelectElement>("p-enc").value,
      anonymous: inp("p-anon").checked,
    };
    const ok = byId<HTMLButtonElement>("p-save");
    ok.disabled = true;
    try {
      const s = await this.d.api.call<Settings>("session.set", params);
      this.fill(s);
      this.d.notify((s.restart_required ?? []).length ? "Privacy settings saved; some take a restart." : "Privacy settings saved and in force.");
    } catch (e) {
      this.d.report(e, "Save privacy settings");
    } finally {
      ok.disabled = false;
    }
  }
}
