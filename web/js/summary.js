// The Summary region: the signal, the status, the verification, the pull request, the
// numbers (turns, tool calls, tokens, cost by part, elapsed time) and the timeline of phases.
import { $, externalLink, h } from "./dom.js";
import { count, duration, statusBadge, statusLabel, time, usd } from "./format.js";
import { verificationBlock } from "./changes.js";

const COST_PARTS = {
  model_input: "Model input tokens",
  model_output: "Model output tokens",
  model_cache_write: "Prompt cache writes",
  model_cache_read: "Prompt cache reads",
  websocket: "Live view messages",
};

export class SummaryView {
  constructor(root) {
    this.root = root;
    this.ticker = null;
  }

  start() {
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  stop() {
    clearInterval(this.ticker);
  }

  /** Draw everything from the page's model of the investigation (investigation.js). */
  render(model) {
    this.model = model;
    const s = model.summary || {};
    const status = model.status();
    const facts = [
      fact("Status", [statusBadge(status), s.outcome && status !== "running" ? h("span", { class: "outcome" }, ` ${s.outcome}`) : null]),
      this.signalFact(model.signal),
      fact("Verification", model.verification ? verificationBlock(model.verification, { withRuns: false }) : h("span", { class: "muted" }, "Not verified yet")),
      fact("Pull request", pullRequest(s, model.delivered)),
    ];
    const tokens = s.tokens || {};
    const cost = s.cost || { total: 0, parts: {} };
    const numbers = h("dl", { class: "numbers" },
      number("Turns", count(s.turns || model.maxTurn)),
      number("Tool calls", count(model.toolCalls)),
      number("Tokens", count(tokens.total), `${count(tokens.input)} input, ${count(tokens.output)} output, ${count(tokens.cache_read)} read from cache, ${count(tokens.cache_write)} written to cache`),
      number("Cost", usd(cost.total), cost.priced === false ? "the model is a scripted replay: no model cost" : ""),
      number("Elapsed", h("span", { id: "elapsed" }, this.elapsed())));
    const parts = Object.entries(cost.parts || {});
    const costDetails = h("details", { class: "cost-parts" },
      h("summary", {}, "Cost by part"),
      h("table", {},
        h("caption", { class: "visually-hidden" }, "Cost by part"),
        h("tbody", {}, parts.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, COST_PARTS[k] || k), h("td", { class: "num" }, usd(v)))))),
      h("p", { class: "muted" }, "Counted live: the model's tokens and the live view's messages. AWS compute (Step Functions, Lambda, Fargate, DynamoDB) is priced when the run is summarised (fixloop show)."));
    const timeline = h("ol", { class: "timeline", "aria-label": "Timeline" }, model.phases().map((p) =>
      h("li", { class: p.state, "aria-current": p.state === "current" ? "step" : null },
        h("span", { class: "dot", "aria-hidden": "true" }),
        h("span", { class: "phase" }, p.label),
        h("span", { class: "visually-hidden" }, p.state === "done" ? " (done)" : p.state === "current" ? " (now)" : " (not yet)"),
        p.at ? time(p.at, { short: true }) : null)));
    $("#summary-body", this.root).replaceChildren(
      h("dl", { class: "facts" }, facts), numbers, costDetails,
      h("h3", { class: "subhead" }, "Timeline"), timeline);
  }

  signalFact(signal) {
    if (!signal) return fact("Signal", h("span", { class: "muted" }, "…"));
    const v = signal.view || {};
    const source = v.console_url ? externalLink(v.console_url, v.source, "console") : h("span", {}, v.source);
    const occurrences = v.count ? `${count(v.count)} occurrences` : "";
    return fact("Signal", h("div", { class: "signal" },
      h("p", { class: "signal-title" }, v.title || signal.event.signal.title),
      h("p", {}, `${v.kind_label || "Signal"}: `, source, v.region ? h("span", { class: "muted" }, ` (${v.region})`) : null),
      h("p", { class: "muted" },
        v.first_at === v.latest_at
          ? ["At ", time(v.first_at)]
          : ["First ", time(v.first_at), ", latest ", time(v.latest_at)],
        occurrences ? `; ${occurrences}` : "")));
  }

  elapsed() {
    const s = this.model && this.model.summary;
    if (!s || !s.created_at) return "—";
    const end = s.closed ? new Date(s.updated_at) : new Date();
    return duration(end - new Date(s.created_at));
  }

  tick() {
    const el = $("#elapsed", this.root);
    if (el && this.model && this.model.summary && !this.model.summary.closed) el.textContent = this.elapsed();
  }
}

function fact(name, ...value) {
  return h("div", { class: "fact" }, h("dt", {}, name), h("dd", {}, value));
}

function number(name, value, title) {
  return h("div", {}, h("dt", {}, name), h("dd", {}, value, title ? h("span", { class: "visually-hidden" }, `: ${title}`) : null),
    title ? h("p", { class: "hint", "aria-hidden": "true" }, title) : null);
}

function pullRequest(summary, delivered) {
  const ref = summary.pull_request_ref || (delivered && delivered.pull_request);
  if (!ref) {
    if (delivered && delivered.kind === "summary") return h("span", { class: "muted" }, "None: concluded without a change");
    return h("span", { class: "muted" }, "None yet");
  }
  const merged = summary.merged || ["fixed", "merged", "deployed", "verified", "recurred"].includes(summary.status);
  return h("div", {},
    externalLink(ref.url, `#${ref.number}`),
    " ", h("span", { class: `status ${merged ? "status-fixed" : "status-delivered"}` }, merged ? "Merged" : summary.status === "rejected" ? statusLabel("rejected") : "Open"),
    h("p", { class: "muted" }, "Branch ", h("code", {}, ref.branch), " into ", h("code", {}, ref.base)));
}
