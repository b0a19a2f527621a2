import { ApiError } from "./conn.js";
import { byId, h } from "./dom.js";
const MAX = 5;
export function toast(msg, kind = "info") {
    const box = byId("toasts");
    const close = h("button", { type: "button", class: "icon small", "aria-label": "Dismiss" }, "✕");
    const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", null, msg), close);
    close.addEventListener("click", () => t.remove());
    box.append(t);
    while (box.children.length > MAX)
        box.firstElementChild?.remove();
    raise(box);
    if (kind === "info")
        setTimeout(() => t.remove(), 5000);
}
function raise(box) {
    if (typeof box.showPopover !== "function")
        return;
    if (box.matches(":popover-open"))
        box.hidePopover();
    box.showPopover();
}
export function errorText(err, what) {
    if (err instanceof ApiError)
        return `${what} failed: ${err.message} (error ${err.code})`;
    if (err instanceof Error)
        return `${what} failed: ${err.message}`;
    return `${what} failed: ${String(err)}`;
}
export function reportError(err, what) {
    toast(errorText(err, what), "error");
}
