// The Categories page: the daemon's categories (category.list, kept
// current by category.changed), a form that creates one or edits its
// paths (category.set), and removal (category.remove; its tasks leave the
// category, their data stays).

import { byId, h, setText } from "./dom.js";
import { PageState, cell, confirmClick, emptyRow, type Page, type PageDeps } from "./settings-page.js";
import type { ApiEvent, Category } from "./types.js";

const inp = (id: string) => byId<HTMLInputElement>(id);

export class CategoriesPage implements Page {
  private readonly state = new PageState("sp-categories");
  // editing is the name of the category in the form ("": a new one).
  private editing = "";

  constructor(private readonly d: PageDeps) {
    byId("f-cat").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.save();
    });
    byId("cat-new").addEventListener("click", () => this.edit(null));
  }

  async open(): Promise<void> {
    this.render();
    try {
      // The app keeps the list from category.changed; read it again all
      // the same, so the page shows the daemon's list as it is now.
      const r = await this.d.api.call<{ categories: Category[] }>("category.list");
      this.state.blocked("");
      this.render(r.categories);
    } catch (e) {
      this.state.failed(e, "category.list", this.d.report, "Read the categories");
    }
  }

  event(_ev: ApiEvent): void {
    // category.changed reaches categoriesChanged through the dialog.
  }

  categoriesChanged(): void {
    this.render();
  }

  private render(list?: readonly Category[]): void {
    const cats = list ?? this.d.categories();
    const admin = this.d.admin();
    const rows = cats.map((c) => {
      const edit = h("button", { type: "button", class: "small", disabled: !admin, "aria-label": `Edit ${c.name}` }, "Edit");
      edit.addEventListener("click", () => this.edit(c));
      const rm = h("button", { type: "button", class: "small danger", disabled: !admin, "aria-label": `Remove ${c.name}` }, "Remove");
      rm.addEventListener("click", () => {
        if (confirmClick(rm, "Remove?")) void this.remove(c.name);
      });
      return h("tr", { "data-name": c.name },
        cell(c.name),
        cell(c.save_path || "(the default download dir)", c.save_path ? "path" : "path muted"),
        cell(c.complete_path ?? "", "path"),
        h("td", { class: "actions" }, edit, rm));
    });
    byId("cat-body").replaceChildren(...(rows.length > 0 ? rows : [emptyRow(4, "No categories yet.")]));
  }

  // edit fills the form with a category to change its paths (null: a new
  // one). A category's name is its key: renaming is removing and creating.
  private edit(c: Category | null): void {
    this.editing = c?.name ?? "";
    inp("cat-name").value = c?.name ?? "";
    inp("cat-name").readOnly = c !== null;
    inp("cat-save").value = c?.save_path ?? "";
    inp("cat-complete").value = c?.complete_path ?? "";
    setText(byId("cat-form-title"), c ? `Edit category “${c.name}”` : "New category");
    setText(byId("cat-ok"), c ? "Save" : "Create");
    byId("cat-new").hidden = c === null;
    (c ? inp("cat-save") : inp("cat-name")).focus();
  }

  private async save(): Promise<void> {
    const name = inp("cat-name").value.trim();
    const params: Category = { name, save_path: inp("cat-save").value.trim() };
    const complete = inp("cat-complete").value.trim();
    if (complete) params.complete_path = complete;
    const ok = byId<HTMLButtonElement>("cat-ok");
    ok.disabled = true;
    try {
      const c = await this.d.api.call<Category>("category.set", params);
      this.d.notify(this.editing ? `Category ${c.name} saved.` : `Category ${c.name} created.`);
      this.edit(null);
    } catch (e) {
      this.d.report(e, `Save category ${name}`);
    } finally {
      ok.disabled = false;
    }
  }

  private async remove(name: string): Promise<void> {
    try {
      await this.d.api.call("category.remove", { name });
      this.d.notify(`Category ${name} removed.`);
      if (this.editing === name) this.edit(null);
    } catch (e) {
      this.d.report(e, `Remove category ${name}`);
    }
  }
}
