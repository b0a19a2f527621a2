import { ApiError } from "./conn.js";
import { byId, h, setText } from "./dom.js";
export class PageState {
    note;
    body;
    constructor(panelId) {
        const panel = byId(panelId);
        this.note = panel.querySelector(".unavailable");
        this.body = panel.querySelector(".page-body");
    }
    blocked(why) {
        this.note.hidden = why === "";
        setText(this.note, why);
        this.body.hidden = why !== "";
    }
    failed(err, method, report, what) {
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
export const NEEDS_ADMIN = "This page needs an admin key: the key this page logged in with has a lesser scope.";
export function confirmClick(btn, ask) {
    if (btn.dataset["armed"] === "1") {
        delete btn.dataset["armed"];
        return true;
    }
    const was = btn.textContent ?? "";
    btn.dataset["armed"] = "1";
    btn.classList.add("armed");
    btn.textContent = ask;
    setTimeout(() => {
        if (btn.dataset["armed"] !== "1")
            return;
        delete btn.dataset["armed"];
        btn.classList.remove("armed");
        btn.textContent = was;
    }, 4000);
    return false;
}
export async function copyText(el, d) {
    const text = el.textContent ?? "";
    try {
        if (navigator.clipboard) {
            await navigator.clipboard.writeText(text);
        }
        else {
            throw new Error("no clipboard");
        }
    }
    catch {
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
export function fillCategories(sel, cats, keep) {
    const cur = keep ?? sel.value;
    sel.replaceChildren(h("option", { value: "" }, "(none)"), ...cats.map((c) => h("option", { value: c.name }, c.name)));
    sel.value = cats.some((c) => c.name === cur) ? cur : "";
}
export function cell(text, cls) {
    return h("td", cls ? { class: cls } : null, text);
}
export function emptyRow(cols, text) {
    return h("tr", { class: "empty-row" }, h("td", { colspan: cols, class: "muted" }, text));
}
