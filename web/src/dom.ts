// Small DOM helpers: element creation without innerHTML (so no markup is
// ever built from strings the daemon or a torrent supplied), and lookups.
// Every text they put on screen passes through clean.

// BIDI matches Unicode's directional formatting characters and marks
// (U+061C, U+200E–F, U+202A–E, U+2066–9): in a torrent's, tracker's or
// peer's text they can make "gpj.exe" show as "exe.jpg". The CLI replaces
// the same ones (internal/cli/format.go).
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

// clean replaces directional formatting characters with U+FFFD, so that
// what is shown reads in the order it is stored.
export function clean(s: string): string {
  return s.replace(BIDI, "\ufffd");
}

// TEXT_ATTRS are the attributes whose value is shown to people (and so
// cleaned); others (href, value, data-*) are kept exact.
const TEXT_ATTRS = new Set(["title", "aria-label", "alt", "placeholder"]);

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
      const text = v === true ? "" : String(v);
      el.setAttribute(k, TEXT_ATTRS.has(k) ? clean(text) : text);
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? clean(c) : c);
  }
  return el;
}

// byId returns the element with that id, which the page must have.
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el as T;
}

// setText changes an element's text (cleaned) only when it differs,
// sparing the browser a layout when nothing changed.
export function setText(el: Element, text: string): void {
  const t = clean(text);
  if (el.textContent !== t) el.textContent = t;
}

// setAttr sets (or, for null, removes) an attribute only when it differs;
// a shown one (TEXT_ATTRS) is cleaned.
export function setAttr(el: Element, name: string, value: string | null): void {
  if (value !== null && TEXT_ATTRS.has(name)) value = clean(value);
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
