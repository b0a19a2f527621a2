export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (v === false || v === null || v === undefined)
                continue;
            el.setAttribute(k, v === true ? "" : String(v));
        }
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false)
            continue;
        el.append(c);
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
    if (el.textContent !== text)
        el.textContent = text;
}
export function setAttr(el, name, value) {
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
