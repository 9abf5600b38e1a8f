// The Changes region: the fix's diff file by file (diff2html, unified or side by side,
// highlighted), and how it was verified.
import { $, h, scroller } from "./dom.js";
import { duration, plural } from "./format.js";
import { hljs } from "./code.js";
import { sanitizeHtml } from "./markdown.js";

const LAYOUT_KEY = "fixloop-diff-layout";

/** Draw a unified diff into ``target``; its HTML is sanitised before it reaches the page. */
export function renderDiff(target, diff, { layout = "line-by-line", fileList = true } = {}) {
  const UI = window.Diff2HtmlUI;
  if (!UI) {
    target.replaceChildren(scroller("Diff", h("pre", {}, diff)));
    return;
  }
  const ui = new UI(target, diff, {
    outputFormat: layout,
    drawFileList: fileList,
    fileListToggle: false,
    fileContentToggle: false,
    matching: "lines",
    highlight: true,
    synchronisedScroll: true,
    stickyFileHeaders: false,
    colorScheme: "light",
  }, hljs);
  ui.diffHtml = sanitizeHtml(ui.diffHtml);
  ui.draw();
  // Make the diff keyboard- and screen-reader-friendly: scrolling panes are focusable,
  // the file list's links scroll within this page instead of changing its address.
  for (const pane of target.querySelectorAll(".d2h-file-side-diff, .d2h-file-diff")) {
    pane.setAttribute("tabindex", "0");
    pane.setAttribute("role", "region");
    const name = pane.closest(".d2h-file-wrapper")?.querySelector(".d2h-file-name")?.textContent?.trim();
    pane.setAttribute("aria-label", `Diff of ${name || "a file"}`);
  }
  for (const table of target.querySelectorAll("table.d2h-diff-table")) table.setAttribute("role", "presentation");
  target.addEventListener("click", (e) => {
    const a = e.target.closest("a[href^='#']");
    if (!a) return;
    e.preventDefault();
    const file = target.querySelector(a.getAttribute("href"));
    if (file) {
      file.scrollIntoView({ block: "start" });
      file.setAttribute("tabindex", "-1");
      file.focus({ preventScroll: true });
    }
  });
}

/** Files, additions and deletions of a unified diff. */
export function diffStat(diff) {
  let files = 0, added = 0, removed = 0;
  for (const line of diff.split("\n")) {
    if (line.startsWith("diff --git ")) files += 1;
    else if (line.startsWith("+") && !line.startsWith("+++")) added += 1;
    else if (line.startsWith("-") && !line.startsWith("---")) removed += 1;
  }
  return { files, added, removed };
}

export class ChangesView {
  constructor(root, { onGoTo }) {
    this.root = root;
    this.onGoTo = onGoTo;
    this.layout = sessionStorage.getItem(LAYOUT_KEY) || (matchMedia("(max-width: 900px)").matches ? "line-by-line" : "side-by-side");
    this.diff = "";
    this.source = "";
    this.verification = null;
    this.runs = [];
    for (const button of root.querySelectorAll("[data-layout]")) {
      button.addEventListener("click", () => {
        this.layout = button.dataset.layout;
        sessionStorage.setItem(LAYOUT_KEY, this.layout);
        this.renderDiff();
      });
    }
  }

  reset() {
    this.diff = "";
    this.source = "";
    this.verification = null;
    this.runs = [];
    this.renderDiff();
    this.renderVerification();
  }

  /** The delivered fix's diff ("delivered"), or the agent's last git diff ("draft"). */
  setDiff(diff, source) {
    if (source === "draft" && this.source === "delivered") return;
    if (diff === this.diff && source === this.source) return;
    this.diff = diff;
    this.source = source;
    this.renderDiff();
  }

  renderDiff() {
    const target = $("#diff", this.root);
    const note = $("#changes-note", this.root);
    const toolbar = $(".changes-toolbar", this.root);
    for (const button of this.root.querySelectorAll("[data-layout]")) {
      button.setAttribute("aria-pressed", String(button.dataset.layout === this.layout));
    }
    if (!this.diff) {
      toolbar.hidden = true;
      note.textContent = "No changes yet: the diff of the fix shows here once the agent has made one.";
      target.replaceChildren();
      return;
    }
    toolbar.hidden = false;
    const stat = diffStat(this.diff);
    note.textContent = this.source === "delivered"
      ? "The pull request's change, against the investigated commit."
      : "Work in progress: the agent's latest view of its changes (git diff); not delivered yet.";
    $("#changes-stat", this.root).textContent =
      `${plural(stat.files, "file")} changed, ${stat.added} added and ${stat.removed} removed lines`;
    renderDiff(target, this.diff, { layout: this.layout });
  }

  setVerification(verification) {
    this.verification = verification;
    this.renderVerification();
  }

  /** A command the agent ran (its card), with its result once it has one. */
  addRun(run) {
    this.runs.push(run);
    this.renderVerification();
  }

  renderVerification() {
    const target = $("#verification", this.root);
    const parts = [];
    if (this.verification) parts.push(verificationBlock(this.verification));
    else parts.push(h("p", { class: "muted" }, "fixloop's own verification has not run for this investigation."));
    if (this.runs.length) {
      parts.push(h("h4", {}, "Commands the agent ran"));
      parts.push(h("ul", { class: "runs" }, this.runs.map((run) => {
        const r = run.result;
        const state = !r ? "running…" : r.kind === "command"
          ? `exit code ${r.exit_code}` : r.ok ? "done" : "failed";
        const cls = !r ? "running" : (r.kind === "command" ? r.exit_code === 0 : r.ok) ? "ok" : "failed";
        return h("li", {},
          h("code", {}, run.command),
          " ", h("span", { class: `tool-state ${cls}` }, state),
          r && r.duration_ms ? h("span", { class: "muted" }, ` ${duration(r.duration_ms)}`) : null,
          " ", h("button", { type: "button", class: "link", onclick: () => this.onGoTo(run.card) }, "Show in the conversation"));
      })));
    }
    target.replaceChildren(...parts);
  }
}

const RUN_LABELS = {
  tests_on_base: "The change's tests on the base commit",
  tests_on_fix: "The change's tests with the fix",
  suite_on_base: "The suite on the base commit",
  suite_on_fix: "The suite with the fix",
};

/** A verification event's report: the event's ``report`` (fixloop.domain.verification), or
 * a summary of one (``fixloop show --json``), or the event itself. */
export function verificationOf(ev) {
  return ev.report || ev.verification || ev;
}

/** "4 passed, 1 failed" from a run's counts (with its exit code when there are none). */
function countsText(counts, exitCode) {
  const parts = [];
  for (const key of ["passed", "failed", "errors", "skipped"]) {
    if (counts && counts[key]) parts.push(`${counts[key]} ${key === "errors" ? "errors" : key}`);
  }
  if (!parts.length && counts && "passed" in counts) parts.push("no tests");
  if (exitCode !== undefined && exitCode !== null) parts.push(`exit code ${exitCode}`);
  return parts.join(", ");
}

/** fixloop's verification: reproduced on the base commit, fixed with the change, its runs. */
export function verificationBlock(v, { withRuns = true } = {}) {
  const yes = (value, good, bad) => h("span", { class: `tool-state ${value ? "ok" : "failed"}` }, value ? good : bad);
  const suite = v.suite && typeof v.suite === "object" ? Object.entries(v.suite).filter(([, val]) => val) : [];
  const runs = withRuns && Array.isArray(v.runs) ? v.runs : [];
  return h("div", { class: "verification" },
    h("dl", { class: "fields" },
      h("div", {}, h("dt", {}, "Reproduced"), h("dd", {}, yes(v.reproduced, "yes: fails on the base commit", "no"))),
      h("div", {}, h("dt", {}, "Fixed"), h("dd", {}, yes(v.fixed, "yes: passes with the change", "no"))),
      suite.length && !(Array.isArray(v.runs) && v.runs.length) ? h("div", {}, h("dt", {}, "Suite"), h("dd", {},
        suite.map(([k, val]) => h("span", { class: "chip" },
          `${k === "base" ? "on the base commit" : k === "fix" ? "with the fix" : k.replace(/_/g, " ")}: ${typeof val === "object" ? countsText(val, val.exit_code) : val}`)))) : null,
      v.tests && v.tests.length ? h("div", {}, h("dt", {}, "Tests"), h("dd", {}, v.tests.map((t) => h("code", { class: "chip" }, t)))) : null,
      v.command ? h("div", {}, h("dt", {}, "Command"), h("dd", {}, h("code", {}, v.command))) : null,
      v.new_failures && v.new_failures.length ? h("div", {}, h("dt", {}, "Newly failing"), h("dd", {}, v.new_failures.map((t) => h("code", { class: "chip" }, t)))) : null,
      v.reason ? h("div", {}, h("dt", {}, "Reason"), h("dd", {}, v.reason)) : null),
    runs.length ? h("ul", { class: "runs verification-runs", "aria-label": "Verification runs" }, runs.map((run) => {
      const passed = !run.timed_out && !run.load_failure && (run.exit_code === 0 || run.no_tests) && !(run.counts && (run.counts.failed || run.counts.errors));
      // on the base commit the change's tests are meant to fail: neither good nor bad alone
      const cls = run.kind === "tests_on_base" ? "" : passed ? "ok" : "failed";
      const state = run.timed_out ? "timed out" : run.load_failure ? "could not load the tests" : countsText(run.counts, run.exit_code);
      return h("li", {},
        h("span", { class: "run-kind" }, RUN_LABELS[run.kind] || String(run.kind || "run").replace(/_/g, " ")),
        " ", h("span", { class: `tool-state ${cls}`.trim() }, state),
        run.duration_ms ? h("span", { class: "muted" }, ` ${duration(run.duration_ms)}`) : null,
        run.output ? h("details", { class: "output" }, h("summary", {}, "Output"), scroller(`Output: ${RUN_LABELS[run.kind] || run.kind}`, h("pre", {}, run.output))) : null);
    })) : null);
}
