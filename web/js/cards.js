// A tool call as a card for its kind (fixloop/live/cards.py makes the fields): a file read
// with numbered, highlighted lines; an edit as a small diff; a command with its exit code,
// duration and folded output; search results by file; other tools' inputs as fields.
import { h, scroller, uid } from "./dom.js";
import { duration, plural } from "./format.js";
import { highlightHtml, languageOf, miniDiff, numberedCode } from "./code.js";
import { markdown } from "./markdown.js";
import { renderDiff } from "./changes.js";

const KIND_LABELS = {
  read: "Read", list: "Files", search: "Search", edit: "Edit", write: "Write", command: "Command",
  diff: "Diff", pull_request: "Pull request", finish: "Conclusion", signal: "Signal",
  telemetry: "Telemetry", history: "History", other: "Tool",
};
const LIST_SHOWN = 30;

/** A raw-event toggle: the JSON is built only when opened. */
export function rawToggle(getRaw) {
  const pre = h("pre", { class: "raw-json" });
  const details = h("details", { class: "raw" }, h("summary", {}, "Raw event"), scroller("Raw event", pre));
  details.addEventListener("toggle", () => {
    if (details.open && !pre.textContent) pre.textContent = JSON.stringify(getRaw(), null, 2);
  });
  return details;
}

export class ToolCard {
  /** @param call a tool_call block of an assistant message's view */
  constructor(call, { getRaw }) {
    this.call = call;
    this.raws = [getRaw];
    const titleId = uid("tool");
    this.concludes = call.kind === "pull_request" || call.kind === "finish";
    this.state = this.concludes ? h("span", { class: "tool-state" }) : h("span", { class: "tool-state running" }, "running…");
    this.done = false;
    this.body = h("div", { class: "card-body" });
    this.result = h("div", { class: "card-result" });
    this.el = h("article", {
      class: `card tool kind-${call.kind}`,
      "aria-labelledby": titleId,
      dataset: { toolUseId: call.id, kind: call.kind },
    },
    h("header", { class: "card-head" },
      h("span", { class: "kind" }, KIND_LABELS[call.kind] || "Tool"),
      h("h4", { id: titleId, class: "card-title" }, call.title),
      this.state),
    this.body, this.result,
    rawToggle(() => this.raws.map((f) => f())));
    this.renderCall();
  }

  renderCall() {
    const c = this.call;
    const body = this.body;
    if (c.kind === "command") {
      body.append(h("pre", { class: "command", tabindex: "0" }, h("code", {}, `$ ${c.command}`)));
    } else if (c.kind === "search") {
      body.append(h("p", { class: "muted" }, "Pattern ", h("code", {}, c.pattern),
        c.glob ? [" in files matching ", h("code", {}, c.glob)] : null));
    } else if (c.kind === "edit") {
      this.diff = miniDiff(c.lines || [], { path: c.path });
      body.append(this.diff);
    } else if (c.kind === "write") {
      const lines = (c.content || "").replace(/\n$/, "").split("\n");
      const numbers = lines.map((_, i) => i + 1);
      body.append(h("details", {}, h("summary", {}, `New content (${plural(lines.length, "line")})`),
        numberedCode(lines.join("\n"), numbers, { path: c.path, label: `New content of ${c.path}` })));
    } else if (c.kind === "pull_request") {
      body.append(h("p", {}, h("strong", {}, c.pr_title)));
    } else if (c.kind === "finish") {
      body.append(markdown(c.summary));
    } else if (c.fields && c.fields.length) {
      body.append(h("dl", { class: "fields" },
        c.fields.map((f) => h("div", {}, h("dt", {}, f.name), h("dd", {}, h("code", {}, f.value))))));
    }
  }

  /** The call's result arrived: its fields (view) and the event (content, errors). */
  setResult(view, event, position, getRaw) {
    this.done = true;
    this.raws.push(getRaw);
    this.result.dataset.position = position;
    this.result.replaceChildren();
    const ok = !event.is_error;
    const took = event.duration_ms ? ` in ${duration(event.duration_ms)}` : "";
    this.state.className = `tool-state ${ok ? "ok" : "failed"}`;
    if (view && view.kind === "command") {
      const success = view.exit_code === 0;
      this.state.className = `tool-state ${success ? "ok" : "failed"}`;
      this.state.textContent = `exit code ${view.exit_code}${took}`;
    } else {
      this.state.textContent = ok ? `done${took}` : `failed${took}`;
    }
    this.el.classList.toggle("failed", !ok);
    if (!ok || event.by_fixloop || !view || view.kind === "text") {
      this.result.append(this.textResult(event, ok));
      return;
    }
    const render = RESULTS[view.kind];
    if (render) render.call(this, view, event);
    else this.result.append(this.textResult(event, ok));
  }

  /** The investigation ended without a result for this call. */
  abandon() {
    if (this.done || this.concludes) return;
    this.state.className = "tool-state";
    this.state.textContent = "no result";
  }

  textResult(event, ok) {
    const content = event.content || "";
    if (event.by_fixloop) return h("p", { class: "note" }, `fixloop: ${content}`);
    if (!ok) return h("div", { class: "error-box" }, scroller(`Error of ${this.call.title}`, h("pre", {}, content)));
    const lines = content.split("\n").length;
    const pre = scroller(`Result of ${this.call.title}`, h("pre", {}, content));
    if (lines <= 6 && content.length < 400) return pre;
    return h("details", {}, h("summary", {}, `Result (${plural(lines, "line")})`), pre);
  }
}

const RESULTS = {
  read(view) {
    const range = view.total_lines
      ? `lines ${view.first_line}–${view.last_line} of ${view.total_lines}` : "empty file";
    this.result.append(h("p", { class: "muted" }, range));
    if (view.code) {
      this.result.append(numberedCode(view.code, view.numbers, {
        path: view.path, label: `${view.path}, ${range}`,
      }));
    }
  },
  list(view) {
    const files = view.files || [];
    const item = (f) => h("li", {}, h("code", {}, f));
    this.result.append(h("p", { class: "muted" }, plural(files.length, "file")));
    this.result.append(h("ul", { class: "files" }, files.slice(0, LIST_SHOWN).map(item)));
    if (files.length > LIST_SHOWN) {
      this.result.append(h("details", {}, h("summary", {}, `${files.length - LIST_SHOWN} more`),
        h("ul", { class: "files" }, files.slice(LIST_SHOWN).map(item))));
    }
  },
  search(view) {
    this.result.append(h("p", { class: "muted" }, view.summary));
    const byFile = new Map();
    for (const m of view.matches || []) {
      if (!byFile.has(m.path)) byFile.set(m.path, []);
      byFile.get(m.path).push(m);
    }
    const files = [...byFile].map(([path, matches]) => {
      const language = languageOf(path);
      return h("li", {}, h("code", { class: "path" }, path),
        h("ol", { class: "matches" }, matches.map((m) => {
          const code = h("code", { class: `hljs language-${language}` });
          code.innerHTML = highlightHtml(m.text, language);
          return h("li", {}, h("span", { class: "ln" }, h("span", { class: "visually-hidden" }, "line "), String(m.line)), code);
        })));
    });
    if (files.length) this.result.append(scroller(`Matches of ${this.call.title}`, h("ul", { class: "search-files" }, files)));
  },
  command(view) {
    const lines = view.output ? view.output.replace(/\n$/, "").split("\n").length : 0;
    if (view.note) this.result.append(h("p", { class: "muted" }, view.note));
    if (!view.output) {
      this.result.append(h("p", { class: "muted" }, "No output."));
      return;
    }
    this.result.append(h("details", { class: "output" },
      h("summary", {}, `Output (${plural(lines, "line")})`),
      scroller(`Output of ${view.command}`, h("pre", {}, view.output))));
  },
  edit(view) {
    const fresh = miniDiff(this.call.lines || [], {
      path: this.call.path, oldStart: view.old_start, newStart: view.new_start,
    });
    if (this.diff) this.diff.replaceWith(fresh);
    this.diff = fresh;
    this.result.append(h("p", { class: "muted" }, view.message.replace(/^edited [^:]+: /, "")));
  },
  write(view) {
    this.result.append(h("p", { class: "muted" }, view.created ? "Created the file." : "Replaced the file's content."));
  },
  diff(view) {
    if (!view.diff) {
      this.result.append(h("p", { class: "muted" }, "No changes yet."));
      return;
    }
    const target = h("div", { class: "diff-host" });
    const details = h("details", { class: "output" }, h("summary", {}, "The changes so far"), target);
    details.addEventListener("toggle", () => {
      if (details.open && !target.childElementCount) renderDiff(target, view.diff, { layout: "line-by-line", fileList: false });
    });
    this.result.append(details);
  },
};
