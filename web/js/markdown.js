// Markdown (the model's text, people's messages, the pull request body) to sanitised HTML.
//
// Everything rendered here is untrusted: the model quotes logs, code and comments, and people
// write what they like. marked renders, then DOMPurify keeps only the tags and attributes of
// an allow-list (no raw HTML, images, forms or styles get through), links open in a new tab
// without an opener, and code blocks are highlighted from their text (highlight.js escapes).
import { Marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.js";
import { highlightElement } from "./code.js";

const HEADING_SHIFT = 3; // "# x" in a message is an h4: the page's own h1-h3 stay its outline

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  walkTokens(token) {
    if (token.type === "heading") token.depth = Math.min(6, token.depth + HEADING_SHIFT);
  },
});

const ALLOWED_TAGS = [
  "p", "br", "hr", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote",
  "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "input",
];
const ALLOWED_ATTR = ["href", "title", "start", "align", "type", "checked", "disabled", "class"];

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (!/^(https?:|mailto:)/i.test(href)) {
      node.removeAttribute("href"); // relative or other schemes lead nowhere on this page
    } else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  }
  if (node.tagName === "INPUT" && node.getAttribute("type") !== "checkbox") node.remove();
  if (node.tagName === "INPUT") node.setAttribute("disabled", "");
});

/** Sanitised HTML of some Markdown. */
export function markdownHtml(text) {
  const html = marked.parse(String(text || ""));
  return purifier.sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR, ALLOW_DATA_ATTR: false });
}

/** A container holding the rendered Markdown, code blocks highlighted. */
export function markdown(text, cls = "") {
  const div = document.createElement("div");
  div.className = `md ${cls}`.trim();
  fillMarkdown(div, text);
  return div;
}

export function fillMarkdown(div, text) {
  div.innerHTML = markdownHtml(text);
  for (const code of div.querySelectorAll("pre > code")) highlightElement(code);
  for (const task of div.querySelectorAll("input[type=checkbox]")) {
    task.setAttribute("aria-label", task.checked ? "done" : "to do");
  }
  for (const pre of div.querySelectorAll("pre")) {
    pre.setAttribute("tabindex", "0"); // it may scroll sideways: reachable by keyboard
  }
  return div;
}

/** Sanitise HTML made by a library from untrusted text (diff2html's). */
export function sanitizeHtml(html) {
  return purifier.sanitize(html, { ADD_ATTR: ["target"], FORBID_TAGS: ["style", "form", "img"] });
}
