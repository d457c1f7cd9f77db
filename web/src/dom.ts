// A few lines instead of a UI framework: build elements, keep references, update in place.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = String(value);
    } else if (key in el && !key.includes("-") && typeof value !== "function" && key !== "list") {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Sets or removes an attribute, touching the DOM only when it changes. */
export function attr(el: Element, name: string, value: string | number | boolean | null): void {
  if (value === null || value === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
    return;
  }
  const text = value === true ? "" : String(value);
  if (el.getAttribute(name) !== text) el.setAttribute(name, text);
}

export function text(el: Element, value: string): void {
  if (el.textContent !== value) el.textContent = value;
}

export function show(el: HTMLElement, visible: boolean): void {
  if (el.hidden === visible) el.hidden = !visible;
}

/** Says something to screen readers through the page's polite live region. */
export function announce(message: string): void {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => (region.textContent = message), 50);
}

/** Keeps `list`'s children one per item, in order, reusing each key's element (so focus stays). */
export function syncList<T, E extends HTMLElement>(
  list: HTMLElement,
  items: T[],
  key: (item: T) => string,
  create: (item: T) => E,
  update: (el: E, item: T) => void,
): void {
  const existing = new Map<string, E>();
  for (const child of Array.from(list.children) as E[]) {
    if (child.dataset.key) existing.set(child.dataset.key, child);
  }
  let cursor: Element | null = list.firstElementChild;
  for (const item of items) {
    const k = key(item);
    let el = existing.get(k);
    if (el) existing.delete(k);
    else {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    if (el !== cursor) list.insertBefore(el, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const stale of existing.values()) stale.remove();
}

/** `value` cut to at most `max` characters, with an ellipsis where it was cut (titles, labels). */
export function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1).trimEnd()}…`;
}

/** Says something where everyone sees it for a few seconds (a small note at the foot of the
 * screen), and to screen readers: the feedback of an action that changes nothing on screen. */
export function toast(message: string): void {
  let note = document.getElementById("toast");
  if (!note) {
    note = h("p", { id: "toast", class: "toast", "data-testid": "toast", "aria-hidden": "true" });
    document.body.append(note);
  }
  note.textContent = message;
  note.hidden = false;
  window.clearTimeout(Number(note.dataset.timer));
  note.dataset.timer = String(window.setTimeout(() => (note.hidden = true), 2500));
  announce(message);
}
