// Building the page: elements from data, always as text (never HTML) unless a caller passes
// sanitised HTML on purpose (markdown.js, code.js).

/** An element: h("p", {class: "x", onclick: f}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** A link that opens elsewhere: a new tab, no opener, and says so to screen readers. */
export function externalLink(href, text, cls) {
  const url = safeUrl(href);
  // a local delivery's pull request is a file:// URL a web page cannot open: its text only
  if (url === "#") return h("span", { class: cls }, text);
  return h(
    "a",
    { href: url, target: "_blank", rel: "noopener noreferrer", class: cls },
    text,
    h("span", { class: "visually-hidden" }, " (opens in a new tab)"),
  );
}

/** Only http(s) links are followed; anything else becomes an inert "#". */
export function safeUrl(href) {
  try {
    const url = new URL(href, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : "#";
  } catch {
    return "#";
  }
}

let ids = 0;
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A region that scrolls on its own: focusable, so a keyboard can scroll it too. */
export function scroller(label, ...children) {
  return h("div", { class: "scroller", tabindex: "0", role: "region", "aria-label": label }, ...children);
}

/** Announce a short sentence to screen readers (the page's polite live region). */
export function announce(text) {
  const el = $("#announcer");
  if (!el) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}
