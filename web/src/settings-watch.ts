// The Watch folders page: watch.list, watch.add {path, category},
// watch.remove {path}. Read on open, after each action, and on
// watch.changed (a daemon that sends it), or on a task.added while the
// page is open (a folder's "added" count moved).

import { byId, h } from "./dom.js";
import { NEEDS_ADMIN, PageState, cell, confirmClick, emptyRow, fillCategories, type Page, type PageDeps } from "./settings-page.js";
import { EV, type ApiEvent, type Watch } from "./types.js";

const REREAD_DELAY = 300; // ms gathering events before watch.list

export class WatchPage implements Page {
  private readonly state = new PageState("sp-watch");
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly d: PageDeps) {
    byId("f-watch").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.add();
    });
  }

  async open(): Promise<void> {
    this.categoriesChanged();
    if (!this.d.admin()) {
      this.state.blocked(NEEDS_ADMIN);
      return;
    }
    await this.load();
  }

  event(ev: ApiEvent): void {
    if (ev.name === EV.watchChanged || ev.name === EV.added) this.reread();
  }

  categoriesChanged(): void {
    fillCategories(byId<HTMLSelectElement>("watch-category"), this.d.categories());
  }

  private reread(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.load(), REREAD_DELAY);
  }

  private async load(): Promise<void> {
    let list: Watch[];
    try {
      list = (await this.d.api.call<{ watches: Watch[] }>("watch.list")).watches ?? [];
    } catch (e) {
      this.state.failed(e, "watch.list", this.d.report, "Read the watch folders");
      return;
    }
    this.state.blocked("");
    const rows = list.map((w) => {
      const rm = h("button", { type: "button", class: "small danger", "aria-label": `Stop watching ${w.path}` }, "Remove");
      rm.addEventListener("click", () => {
        if (confirmClick(rm, "Stop watching?")) void this.remove(w.path);
      });
      return h("tr", { "data-path": w.path },
        cell(w.path, "path"),
        cell(w.category || "—"),
        cell(String(w.added), "num"),
        cell(String(w.invalid), "num"),
        cell(w.last_error ?? "", "error"),
        h("td", { class: "actions" }, rm));
    });
    byId("watch-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, "No folder is watched.")]));
  }

  private async add(): Promise<void> {
    const path = byId<HTMLInputElement>("watch-path").value.trim();
    const category = byId<HTMLSelectElement>("watch-category").value;
    const ok = byId<HTMLButtonElement>("watch-ok");
    ok.disabled = true;
    try {
      await this.d.api.call("watch.add", category ? { path, category } : { path });
      this.d.notify(`Watching ${path}.`);
      byId<HTMLInputElement>("watch-path").value = "";
    } catch (e) {
      this.d.report(e, `Watch ${path}`);
    } finally {
      ok.disabled = false;
    }
    await this.load();
  }

  private async remove(path: string): Promise<void> {
    try {
      await this.d.api.call("watch.remove", { path });
      this.d.notify(`No longer watching ${path}.`);
    } catch (e) {
      this.d.report(e, `Stop watching ${path}`);
    }
    await this.load();
  }
}
