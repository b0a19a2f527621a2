// Toasts: short notices and errors, in an ARIA live region. Errors stay
// until dismissed; notices go after a few seconds. The region is a popover,
// shown again with each notice, so that it is above an open modal dialog
// (the Settings pages report their errors there too).

import { ApiError } from "./conn.js";
import { byId, h } from "./dom.js";

const MAX = 5;

export function toast(msg: string, kind: "info" | "error" = "info"): void {
  const box = byId("toasts");
  const close = h("button", { type: "button", class: "icon small", "aria-label": "Dismiss" }, "✕");
  const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", null, msg), close);
  close.addEventListener("click", () => t.remove());
  box.append(t);
  while (box.children.length > MAX) box.firstElementChild?.remove();
  raise(box);
  if (kind === "info") setTimeout(() => t.remove(), 5000);
}

// raise puts the notices on top of the top layer (above any modal dialog
// opened since they were last shown).
function raise(box: HTMLElement): void {
  if (typeof box.showPopover !== "function") return;
  if (box.matches(":popover-open")) box.hidePopover();
  box.showPopover();
}

// errorText words an error for people: "Add x.torrent failed: bad torrent
// (200): …".
export function errorText(err: unknown, what: string): string {
  if (err instanceof ApiError) return `${what} failed: ${err.message} (error ${err.code})`;
  if (err instanceof Error) return `${what} failed: ${err.message}`;
  return `${what} failed: ${String(err)}`;
}

export function reportError(err: unknown, what: string): void {
  toast(errorText(err, what), "error");
}
