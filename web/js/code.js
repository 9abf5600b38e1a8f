// Code on the page: highlighted (highlight.js escapes the text it wraps), with line numbers,
// and small diffs of an edit.
import hljs from "../vendor/highlight.min.js";
import { h, scroller } from "./dom.js";

hljs.configure({ ignoreUnescapedHTML: true });

const BY_NAME = { dockerfile: "dockerfile", makefile: "makefile", gemfile: "ruby", rakefile: "ruby" };
const MAX_HIGHLIGHT_CHARS = 200_000;

export { hljs };

/** The highlight.js language of a file, from its name ("plaintext" when unknown). */
export function languageOf(path) {
  const name = String(path || "").split("/").pop().toLowerCase();
  if (BY_NAME[name] && hljs.getLanguage(BY_NAME[name])) return BY_NAME[name];
  const ext = name.includes(".") ? name.split(".").pop() : "";
  return ext && hljs.getLanguage(ext) ? ext : "plaintext";
}

/** Highlighted HTML of some code (escaped text wrapped in spans). */
export function highlightHtml(code, language) {
  if (code.length > MAX_HIGHLIGHT_CHARS || !hljs.getLanguage(language)) return escapeHtml(code);
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}

export function highlightElement(el) {
  const lang = [...el.classList].find((c) => c.startsWith("language-"));
  const language = lang ? lang.slice(9) : "";
  if (language && hljs.getLanguage(language)) {
    el.innerHTML = highlightHtml(el.textContent, language);
  }
  el.classList.add("hljs");
}

export function escapeHtml(text) {
  const div = document.createElement("div");
  div.textContent = text;
  return div.innerHTML;
}

/** Code with line numbers, in a region that scrolls: numbers[i] is the number of line i
 * (null for a note, such as where output was cut). */
export function numberedCode(code, numbers, { path, label }) {
  const language = languageOf(path);
  const lines = code.split("\n");
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" },
    lines.map((_, i) => (numbers[i] === null || numbers[i] === undefined ? "" : String(numbers[i]))).join("\n"));
  const body = h("code", { class: `hljs language-${language}` });
  body.innerHTML = highlightHtml(code, language);
  return scroller(label, h("div", { class: "numbered" }, gutter, h("pre", { class: "src" }, body)));
}

/** A small diff of an edit: lines removed, added, kept; numbered once the edit's result
 * says where it happened. */
export function miniDiff(lines, { path, oldStart, newStart }) {
  const language = languageOf(path);
  let oldN = oldStart || null;
  let newN = newStart || null;
  const rows = lines.map((line) => {
    const kind = line.op === "-" ? "del" : line.op === "+" ? "add" : "ctx";
    const left = kind !== "add" && oldN !== null ? oldN++ : "";
    const right = kind !== "del" && newN !== null ? newN++ : "";
    const code = h("code", { class: `hljs language-${language}` });
    code.innerHTML = highlightHtml(line.text, language) || " ";
    const said = kind === "del" ? "removed: " : kind === "add" ? "added: " : "";
    return h("div", { class: `row ${kind}` },
      h("span", { class: "ln", "aria-hidden": "true" }, String(left)),
      h("span", { class: "ln", "aria-hidden": "true" }, String(right)),
      h("span", { class: "sign", "aria-hidden": "true" }, line.op === " " ? " " : line.op),
      said ? h("span", { class: "visually-hidden" }, said) : null,
      code);
  });
  return scroller(`Change to ${path}`, h("div", { class: "minidiff" }, rows));
}
