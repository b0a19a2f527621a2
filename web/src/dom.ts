// Small DOM helpers: element creation without innerHTML (so no markup is
// ever built from strings the daemon or a torrent supplied), and lookups.

type AttrValue = string | number | boolean | null | undefined;
type Child = Node | string | null | undefined | false;

// h creates an element. Attributes set to false, null or undefined are left
// out; true sets an empty attribute. "class" sets the class list.
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, AttrValue> | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v === null || v === undefined) continue;
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

// byId returns the element with that id, which the page must have.
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el as T;
}

// setText changes an element's text only when it differs, sparing the
// browser a layout when nothing changed.
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

// setAttr sets (or, for null, removes) an attribute only when it differs.
export function setAttr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

// cssVar reads a CSS custom property of the root element (colours for the
// canvases follow the light or dark theme).
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
