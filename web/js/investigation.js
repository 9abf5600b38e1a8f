// One investigation: its three regions (Summary, Conversation, Changes) fed by the events of
// its log and the summaries the server sends (fixloop/live/views.py).
import { $, announce } from "./dom.js";
import { Conversation } from "./conversation.js";
import { SummaryView } from "./summary.js";
import { ChangesView, verificationOf } from "./changes.js";

const MERGED = new Set(["fixed", "merged", "deployed", "verified", "recurred"]);
const TERMINAL = new Set(["delivered", "finished", "failed", "parked", "blocked", "rejected", ...MERGED]);

export class InvestigationView {
  constructor(root, { send }) {
    this.root = root;
    this.sendRaw = send;
    this.summaryView = new SummaryView($("#summary", root));
    this.changes = new ChangesView($("#changes", root), { onGoTo: (card) => this.goTo(card.el) });
    this.conversation = new Conversation($("#conversation", root), {
      send: (text) => this.sendText(text),
      onGoToChanges: () => this.goTo($("#changes-h", root)),
    });
    $("#composer", root).addEventListener("submit", (e) => {
      e.preventDefault();
      const box = $("#reply-text", root);
      const text = box.value.trim();
      if (!text) return;
      if (this.sendText(text)) $("#composer-status", root).textContent = "Sending…";
      else $("#composer-status", root).textContent = "Not connected: the message was not sent.";
    });
    $("#jump-latest", root).addEventListener("click", () => this.scrollToEnd(true));
    window.addEventListener("scroll", () => this.onScroll(), { passive: true });
  }

  open(id) {
    this.id = id;
    this.summary = null;
    this.signal = null;
    this.verification = null;
    this.delivered = null;
    this.statusEvent = null;
    this.toolCalls = 0;
    this.maxTurn = 0;
    this.times = {};
    this.following = true;
    this.conversation.reset();
    this.changes.reset();
    $("#inv-title", this.root).textContent = "Loading the investigation…";
    $("#composer-status", this.root).textContent = "";
    $("#reply-text", this.root).value = "";
    this.setComposer(true);
    this.root.hidden = false;
    this.summaryView.start();
    this.render();
  }

  close() {
    this.root.hidden = true;
    this.summaryView.stop();
  }

  sendText(text) {
    return this.sendRaw({ action: "send", investigation_id: this.id, text });
  }

  // -- the page's model of the investigation -------------------------------------------------
  status() {
    const s = (this.statusEvent && this.statusEvent.status) || (this.summary && this.summary.status) || "running";
    if (s === "running" && this.conversation.waiting()) return "waiting";
    return s;
  }

  phases() {
    const t = this.times;
    const status = this.status();
    const out = [
      { key: "signal", label: "Alert received", at: t.signal },
      { key: "investigating", label: "Investigating", at: t.investigating },
      { key: "fix", label: "Fix written", at: t.fix },
    ];
    if (this.verification || t.verified) out.push({ key: "verified", label: "Verified", at: t.verified });
    const pr = this.delivered ? this.delivered.kind === "pull_request" : !["finished"].includes(status);
    if (pr) out.push({ key: "delivered", label: "Pull request opened", at: t.delivered });
    else out.push({ key: "delivered", label: "Concluded", at: t.delivered });
    if (pr && !["failed", "parked", "blocked"].includes(status)) {
      out.push({ key: "merged", label: status === "rejected" ? "Closed unmerged" : "Merged", at: t.merged });
    }
    if (["failed", "parked", "blocked"].includes(status)) {
      out.push({ key: "ended", label: status === "failed" ? "Failed" : status === "parked" ? "Parked" : "Blocked", at: t.ended });
    }
    // Reached phases are done; while it runs, the latest one reached is where it is now.
    const last = out.reduce((i, p, n) => (p.at ? n : i), -1);
    const open = !TERMINAL.has(status);
    return out.map((p, n) => {
      if (n === last && open) return { ...p, state: "current" };
      return { ...p, state: n <= last && p.at ? "done" : "todo" };
    });
  }

  // -- messages ----------------------------------------------------------------------------
  onSummary(summary) {
    if (summary.investigation_id !== this.id) return;
    if (this.summary && this.summary.as_of && summary.as_of && summary.as_of < this.summary.as_of) return;
    this.summary = { ...(this.summary || {}), ...summary };
    this.render();
  }

  onEvent(msg) {
    const atBottom = this.nearBottom();
    const ev = msg.event;
    const c = this.conversation;
    switch (ev.type) {
      case "signal":
        this.signal = msg;
        this.times.signal = ev.at;
        c.signal(msg);
        break;
      case "context_gathering":
        this.times.investigating ||= ev.at;
        for (const card of c.context(msg)) this.onCall(card.call, card, ev);
        break;
      case "stream_chunk":
        c.chunk(msg);
        break;
      case "assistant_message":
        this.times.investigating ||= ev.at;
        this.maxTurn = Math.max(this.maxTurn, ev.turn);
        c.assistant(msg, { onCall: (call, card) => this.onCall(call, card, ev) });
        break;
      case "tool_result":
        c.toolResult(msg, { onResult: (card, view, result) => this.onResult(card, view, result) });
        break;
      case "user_message":
        c.human(msg);
        break;
      case "question_asked":
        c.question(msg);
        break;
      case "delivered":
        this.delivered = ev;
        this.times.delivered = ev.at;
        if (ev.diff) this.changes.setDiff(ev.diff, "delivered");
        c.delivered(msg);
        break;
      case "failed":
        this.times.ended = ev.at;
        c.failed(msg);
        break;
      case "status_changed":
        this.statusEvent = ev;
        if (ev.status === "fixed" || ev.status === "merged") this.times.merged ||= ev.at;
        if (["failed", "parked", "blocked"].includes(ev.status)) this.times.ended ||= ev.at;
        c.status(msg);
        break;
      case "compaction_summary":
        c.compaction(msg);
        break;
      case "tool_results_cleared":
        c.cleared(msg);
        break;
      case "note":
        c.note(msg);
        break;
      case "verification": {
        const v = verificationOf(ev);
        this.verification = v;
        this.times.verified = ev.at;
        this.changes.setVerification(v);
        c.verification(msg, v);
        break;
      }
      default:
        c.other(msg);
    }
    if (ev.type !== "stream_chunk") this.render();
    if (msg.replay) return; // catching up: the reader stays where they are (the top)
    if (atBottom && this.following) this.scrollToEnd(false);
    else if (!atBottom) $("#jump-latest", this.root).hidden = false;
  }

  onCall(call, card, ev) {
    this.toolCalls += 1;
    if ((call.kind === "edit" || call.kind === "write") && !this.times.fix) this.times.fix = ev.at;
    if (call.kind === "command") this.changes.addRun({ command: call.command, card, result: null, id: call.id });
  }

  onResult(card, view, event) {
    const run = this.changes.runs.find((r) => r.id === event.tool_use_id);
    if (run) {
      run.result = { ...(view || {}), ok: !event.is_error, duration_ms: event.duration_ms };
      this.changes.renderVerification();
    }
    if (view && view.kind === "diff" && !event.is_error) this.changes.setDiff(view.diff, "draft");
  }

  onSent() {
    $("#reply-text", this.root).value = "";
    $("#composer-status", this.root).textContent = "Sent. The agent reads it at its next step.";
    announce("Message sent.");
  }

  onError(message) {
    $("#composer-status", this.root).textContent = message;
  }

  // -- drawing -----------------------------------------------------------------------------
  render() {
    const s = this.summary;
    const title = (this.signal && this.signal.event.signal.title) || (s && s.title) || "Investigation";
    $("#inv-title", this.root).textContent = title;
    document.title = `${title} · fixloop`;
    const closed = TERMINAL.has(this.status());
    if (closed) this.conversation.end();
    this.setComposer(!closed);
    this.summaryView.render(this);
  }

  setComposer(open) {
    const box = $("#reply-text", this.root);
    const button = $("#reply-send", this.root);
    box.disabled = !open;
    button.disabled = !open;
    $("#composer", this.root).classList.toggle("closed", !open);
    $("#composer-closed", this.root).hidden = open;
  }

  goTo(el) {
    if (!el) return;
    el.scrollIntoView({ block: "start" });
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: true });
  }

  nearBottom() {
    const thread = $("#thread", this.root);
    const rect = thread.getBoundingClientRect();
    return rect.bottom <= window.innerHeight + 160;
  }

  onScroll() {
    if (this.root.hidden) return;
    const atBottom = this.nearBottom();
    this.following = atBottom;
    if (atBottom) $("#jump-latest", this.root).hidden = true;
  }

  scrollToEnd(focus) {
    const composer = $("#composer", this.root);
    composer.scrollIntoView({ block: "end" });
    $("#jump-latest", this.root).hidden = true;
    this.following = true;
    if (focus) $("#reply-text", this.root).focus({ preventScroll: true });
  }
}
