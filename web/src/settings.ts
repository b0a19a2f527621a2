// The Settings dialog: session.get into a form, session.set from it.

import { byId, setText } from "./dom.js";
import * as fmt from "./format.js";
import type { Api } from "./conn.js";
import type { ServerInfo, Settings } from "./types.js";

export interface SettingsDeps {
  api: Api;
  report(err: unknown, what: string): void;
  notify(msg: string): void;
  // saved receives the settings after session.get or session.set.
  saved(s: Settings): void;
}

const inp = (id: string) => byId<HTMLInputElement>(id);

export class SettingsDialog {
  private readonly dlg = byId<HTMLDialogElement>("dlg-settings");

  constructor(private readonly d: SettingsDeps) {
    byId("settings-cancel").addEventListener("click", () => this.dlg.close());
    byId("settings-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
  }

  async open(): Promise<void> {
    let s: Settings;
    let info: ServerInfo | null = null;
    try {
      [s, info] = await Promise.all([
        this.d.api.call<Settings>("session.get"),
        this.d.api.call<ServerInfo>("server.info").catch(() => null),
      ]);
    } catch (e) {
      this.d.report(e, "Read settings");
      return;
    }
    this.d.saved(s);
    this.fill(s);
    setText(byId("s-about"), info ? `Lodestone ${info.version} · API ${info.api_version} · engine ${info.engine_version} · up ${fmt.duration(info.uptime_seconds)}` : "");
    this.dlg.showModal();
    inp("s-dl").focus();
  }

  private fill(s: Settings): void {
    inp("s-dl").value = fmt.bytesToKib(s.download_rate_limit);
    inp("s-ul").value = fmt.bytesToKib(s.upload_rate_limit);
    inp("s-maxdl").value = String(s.max_active_downloads);
    inp("s-maxseed").value = String(s.max_active_seeds);
    inp("s-ratio").value = String(s.seed_ratio_limit);
    inp("s-time").value = String(Math.round(s.seed_time_limit / 60));
    inp("s-dir").value = s.download_dir;
    inp("s-port").value = String(s.peer_port);
  }

  private async save(): Promise<void> {
    const num = (id: string, int: boolean): number => {
      const v = inp(id).value.trim();
      const n = v === "" ? 0 : Number(v);
      if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) {
        throw new Error(`${byId(id).previousElementSibling?.textContent ?? id}: must be 0 or a positive ${int ? "whole " : ""}number`);
      }
      return n;
    };
    let params: Partial<Settings>;
    try {
      const dl = fmt.kibToBytes(inp("s-dl").value);
      const ul = fmt.kibToBytes(inp("s-ul").value);
      if (Number.isNaN(dl) || Number.isNaN(ul)) throw new Error("rate limits must be 0 (none) or a positive number of KiB/s");
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
    } catch (e) {
      this.d.report(e, "Save settings");
      return;
    }
    const ok = byId<HTMLButtonElement>("settings-ok");
    ok.disabled = true;
    try {
      const s = await this.d.api.call<Settings>("session.set", params);
      this.d.saved(s);
      this.fill(s);
      this.dlg.close();
      this.d.notify("Settings saved.");
    } catch (e) {
      this.d.report(e, "Save settings");
    } finally {
      ok.disabled = false;
    }
  }
}
