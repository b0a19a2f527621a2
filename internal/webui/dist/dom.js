const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export function clean(s) {
    return s.replace(BIDI, "\ufffd");
}
const TEXT_ATTRS = new Set(["title", "aria-label", "alt", "placeholder"]);
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (v === false || v === null || v === undefined)
                continue;
            const text = v === true ? "" : String(v);
            el.setAttribute(k, TEXT_ATTRS.has(k) ? clean(text) : text);
        }
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        el.append(typeof c === "string" ? clean(c) : c);
    }
    return el;
}
export function byId(id) {
    const el = document.getElementById(id);
    if (!el)
        throw new Error(`page has no #${id}`);
    return el;
}
export function setText(el, text) {
    const t = clean(text);
    if (el.textContent !== t)
        el.textContent = t;
}
export function setAttr(el, name, value) {
    if (value !== null && TEXT_ATTRS.has(name))
        value = clean(value);
    if (value === null) {
        if (el.hasAttribute(name))
            el.removeAttribute(name);
    }
    else if (el.getAttribute(name) !== value) {
        el.setAttribute(name, value);
    }
}
export function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
