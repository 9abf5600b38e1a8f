// The investigations: newest first, filtered by status and a search, updated live (the page
// subscribes to the list; the fan-out sends each row that changes).
import { $, h, externalLink } from "./dom.js";
import { STATUS_LABELS, count, serviceLabel, statusBadge, time, usd } from "./format.js";

export class ListView {
  constructor(root) {
    this.root = root;
    this.rows = new Map();
    this.body = $("#investigations tbody", root);
    this.search = $("#list-search", root);
    this.status = $("#list-status", root);
    this.search.addEventListener("input", () => this.render());
    this.status.addEventListener("change", () => this.render());
    $("#filters", root).addEventListener("submit", (e) => e.preventDefault());
    this.ticker = null;
  }

  show() {
    this.root.hidden = false;
    this.ticker = setInterval(() => this.render(), 30000); // "5 minutes ago" moves on
  }

  hide() {
    this.root.hidden = true;
    clearInterval(this.ticker);
    this.rows.clear();
    this.body.replaceChildren();
  }

  setItems(items) {
    this.rows = new Map(items.map((row) => [row.investigation_id, row]));
    this.render();
  }

  upsert(row) {
    this.rows.set(row.investigation_id, { ...(this.rows.get(row.investigation_id) || {}), ...row });
    this.render();
  }

  matches(row) {
    const status = this.status.value;
    if (status && row.status !== status) return false;
    const q = this.search.value.trim().toLowerCase();
    if (!q) return true;
    const text = [row.title, row.signal && row.signal.source, row.outcome, row.status, STATUS_LABELS[row.status]]
      .join(" ").toLowerCase();
    return q.split(/\s+/).every((word) => text.includes(word));
  }

  render() {
    const focused = document.activeElement && document.activeElement.closest("tr[data-id]");
    const focusedId = focused ? focused.dataset.id : null;
    const all = [...this.rows.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    const shown = all.filter((row) => this.matches(row));
    this.body.replaceChildren(...shown.map((row) => this.row(row)));
    $("#list-empty", this.root).hidden = all.length > 0;
    $("#list-none", this.root).hidden = all.length === 0 || shown.length > 0;
    $("#list-count", this.root).textContent = all.length
      ? `${count(shown.length)} of ${count(all.length)} investigations` : "";
    this.updateStatusCounts(all);
    if (focusedId) {
      const link = $(`tr[data-id="${CSS.escape(focusedId)}"] a.open`, this.body);
      if (link) link.focus();
    }
  }

  updateStatusCounts(all) {
    for (const option of this.status.options) {
      const n = option.value ? all.filter((r) => r.status === option.value).length : all.length;
      option.textContent = `${option.value ? STATUS_LABELS[option.value] : "All"} (${n})`;
    }
  }

  row(row) {
    const open = h("a", { class: "open", href: `#investigation=${encodeURIComponent(row.investigation_id)}` },
      row.title || "Untitled investigation");
    const outcome = row.pull_request
      ? externalLink(row.pull_request, "Pull request")
      : h("span", { class: "outcome" }, row.outcome || (row.closed ? "" : "In progress"));
    return h("tr", { dataset: { id: row.investigation_id, status: row.status } },
      h("td", { "data-label": "Status" }, statusBadge(row.status)),
      h("th", { scope: "row", "data-label": "Signal" }, open),
      h("td", { "data-label": "Service" }, serviceLabel(row.signal) || "—"),
      h("td", { "data-label": "Started" }, time(row.created_at, { relative: true })),
      h("td", { class: "num", "data-label": "Turns" }, count(row.turns)),
      h("td", { class: "num", "data-label": "Cost" }, usd(row.cost_usd)),
      h("td", { "data-label": "Outcome" }, outcome));
  }
}
