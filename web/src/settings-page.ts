// What the pages of the Settings dialog share: the interface each page
// implements, what the dialog gives it, and helpers for "not available on
// this daemon", two-step confirmations and copying a secret.

import { ApiError, type Api } from "./conn.js";
import { byId, h, setText } from "./dom.js";
import type { ApiEvent, Category } from "./types.js";

export interface PageDeps {
  api: Api;
  report(err: unknown, what: string): void;
  notify(msg: string): void;
  // categories are the daemon's, kept current by category.changed.
  categories(): readonly Category[];
  // eventNames are the events this daemon knows (those the app could
  // subscribe to), for the webhook form.
  eventNames(): readonly string[];
  // admin reports whether this connection may change settings (server.info
  // scope "admin", or a daemon without scopes).
  admin(): boolean;
}

// Page is one tab of the Settings dialog.
export interface Page {
  // open runs each time the page is shown: it reads its lists again.
  open(): Promise<void>;
  // event receives every event while the dialog is open.
  event(ev: ApiEvent): void;
  // categoriesChanged runs when the daemon's categories changed.
  categoriesChanged(): void;
}

// PageState shows a page's note when its API is missing or not allowed,
// in place of its body.
export class PageState {
  private readonly note: HTMLElement;
  private readonly body: HTMLElement;

  constructor(panelId: string) {
    const panel = byId(panelId);
    this.note = panel.querySelector<HTMLElement>(".unavailable")!;
    this.body = panel.querySelector<HTMLElement>(".page-body")!;
  }

  // blocked shows why the page cannot be used; "" shows the page.
  blocked(why: string): void {
    this.note.hidden = why === "";
    setText(this.note, why);
    this.body.hidden = why !== "";
  }

  // failed handles an error of a list call: an unknown method (102: an
  // older daemon, or a part it does not have) or a forbidden one (403)
  // blocks the page with a note; other errors are reported. It returns
  // whether the page was blocked.
  failed(err: unknown, method: string, report: (e: unknown, what: string) => void, what: string): boolean {
    if (err instanceof ApiError && err.code === 102) {
      this.blocked(`Not available on this daemon: it does not know ${method}.`);
      return true;
    }
    if (err instanceof ApiError && err.code === 403) {
      this.blocked(`Not allowed with this API key: ${err.detail || "an admin key is needed"}.`);
      return true;
    }
    report(err, what);
    return false;
  }
}

// NEEDS_ADMIN is the note of an admin-only page opened with a lesser key.
export const NEEDS_ADMIN = "This page needs an admin key: the key this page logged in with has a lesser scope.";

// confirmClick makes a destructive button ask first: the first click turns
// it into "ask" for a few seconds, and only a second click within them
// returns true.
export function confirmClick(btn: HTMLButtonElement, ask: string): boolean {
  if (btn.dataset["armed"] === "1") {
    delete btn.dataset["armed"];
    return true;
  }
  const was = btn.textContent ?? "";
  btn.dataset["armed"] = "1";
  btn.classList.add("armed");
  btn.textContent = ask;
  setTimeout(() => {
    if (btn.dataset["armed"] !== "1") return;
    delete btn.dataset["armed"];
    btn.classList.remove("armed");
    btn.textContent = was;
  }, 4000);
  return false;
}

// copyText copies an element's text to the clipboard (the Clipboard API,
// else a selection and the copy command), and says how it went.
export async function copyText(el: HTMLElement, d: Pick<PageDeps, "notify" | "report">): Promise<void> {
  const text = el.textContent ?? "";
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
    } else {
      throw new Error("no clipboard");
    }
  } catch {
    // Not allowed (no focus, or not a secure context): select it instead.
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    if (!document.execCommand("copy")) {
      d.report(new Error("the browser refused; the text is selected: copy it with Ctrl+C"), "Copy");
      return;
    }
  }
  d.notify("Copied.");
}

// fillCategories offers the categories in a menu, keeping its choice
// while it still exists (or choosing keep, when given).
export function fillCategories(sel: HTMLSelectElement, cats: readonly Category[], keep?: string): void {
  const cur = keep ?? sel.value;
  sel.replaceChildren(h("option", { value: "" }, "(none)"), ...cats.map((c) => h("option", { value: c.name }, c.name)));
  sel.value = cats.some((c) => c.name === cur) ? cur : "";
}

// cell is a table cell with text, optionally with a class.
export function cell(text: string, cls?: string): HTMLTableCellElement {
  return h("td", cls ? { class: cls } : null, text);
}

// emptyRow is the one row of an empty table.
export function emptyRow(cols: number, text: string): HTMLTableRowElement {
  return h("tr", { class: "empty-row" }, h("td", { colspan: cols, class: "muted" }, text));
}
