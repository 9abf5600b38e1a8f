// The Conversation region: one item per log event, in log order. The model's text is
// Markdown (sanitised), thinking is folded, each tool call is a card that its result fills,
// questions can be answered here, people's messages show who and where, and a turn's text
// streams in as it is written until its final message replaces the draft.
import { $, announce, externalLink, h, scroller, uid } from "./dom.js";
import { CHANNEL_LABELS, count, plural, statusBadge, time } from "./format.js";
import { fillMarkdown, markdown } from "./markdown.js";
import { ToolCard, rawToggle } from "./cards.js";

export class Conversation {
  constructor(root, { send, onGoToChanges }) {
    this.root = root;
    this.thread = $("#thread", root);
    this.send = send;
    this.onGoToChanges = onGoToChanges;
    this.reset();
  }

  reset() {
    this.thread.replaceChildren();
    this.cards = new Map();      // tool_use_id -> ToolCard
    this.drafts = new Map();     // turn -> {attempt, el, blocks}
    this.finals = new Set();     // turns whose final message arrived
    this.questions = new Map();  // tool_use_id -> question item controller
    this.closed = false;
  }

  /** Put an item at its place in log order (a late sibling goes in place); the alert that
   * opened the investigation comes first (fixloop's own look-ups sort before it in the log). */
  place(position, type, el) {
    el.dataset.position = position;
    el.dataset.type = type;
    const key = sortKey(el);
    let before = null;
    for (const other of this.thread.children) {
      if (sortKey(other) > key) { before = other; break; }
    }
    this.thread.insertBefore(el, before);
    return el;
  }

  item(cls, heading, at, ...body) {
    const id = uid("item");
    return h("li", { class: `item ${cls}`, "aria-labelledby": id },
      h("div", { class: "item-head" }, h("h3", { id }, heading), at ? time(at, { short: true }) : null),
      ...body);
  }

  signal(msg) {
    const ev = msg.event;
    const v = msg.view || {};
    const lines = ev.signal.log_lines || [];
    const log = lines.length ? h("details", {},
      h("summary", {}, `Log lines (${count(lines.length)})`),
      scroller("Log lines of the signal", h("pre", { class: "log" }, lines.map((l) => `${l.timestamp}  ${l.message}`).join("\n")))) : null;
    const fields = (v.fields || []).map((f) => h("div", {}, h("dt", {}, f.name), h("dd", {}, f.value)));
    this.place(msg.position, ev.type, this.item("signal", "Alert received", ev.at,
      h("p", { class: "signal-title" }, v.title || ev.signal.title),
      fields.length ? h("dl", { class: "fields" }, fields) : null, log, rawToggle(() => msg)));
  }

  context(msg) {
    const calls = (msg.view && msg.view.blocks) || [];
    const cards = calls.map((call) => this.card(call, msg));
    this.place(msg.position, msg.event.type, this.item("context", "Context gathered by fixloop", msg.event.at,
      h("p", { class: "muted" }, "Before the first turn, fixloop looked these up for the agent."),
      h("div", { class: "tools" }, cards.map((c) => c.el))));
    return cards;
  }

  card(call, msg) {
    const card = new ToolCard(call, { getRaw: () => msg });
    this.cards.set(call.id, card);
    return card;
  }

  /** A turn's streamed fragments, shown as they arrive, until its final message. */
  chunk(msg) {
    const ev = msg.event;
    if (this.finals.has(ev.turn)) return;
    let draft = this.drafts.get(ev.turn);
    if (draft && ev.attempt > draft.attempt) { draft.el.remove(); draft = null; } // a retry
    if (draft && ev.attempt < draft.attempt) return;
    if (!draft) {
      const el = this.item("agent draft", "Agent", null, h("p", { class: "typing", role: "status" }, "writing…"));
      el.setAttribute("aria-busy", "true");
      draft = { attempt: ev.attempt, el: this.place(msg.position, "stream", el), blocks: new Map() };
      this.drafts.set(ev.turn, draft);
    }
    for (const f of ev.fragments) {
      let block = draft.blocks.get(f.index);
      if (!block) {
        block = { kind: f.kind, text: "", el: null };
        if (f.kind === "thinking") {
          block.body = h("div", { class: "md thinking-text" });
          block.el = h("details", { class: "thinking" }, h("summary", {}, "Thinking…"), block.body);
        } else if (f.kind === "tool_input") {
          block.el = h("p", { class: "muted preparing" }, "Preparing a tool call…");
        } else {
          block.body = h("div", { class: "md streaming" });
          block.el = block.body;
        }
        draft.el.append(block.el);
        draft.blocks.set(f.index, block);
      }
      block.text += f.text;
      if (block.body) this.schedule(block);
    }
  }

  /** Render streamed Markdown at most once a frame. */
  schedule(block) {
    if (block.pending) return;
    block.pending = true;
    requestAnimationFrame(() => {
      block.pending = false;
      fillMarkdown(block.body, block.text);
    });
  }

  /** The final message of a turn: text as Markdown, thinking folded, a card per call. */
  assistant(msg, { onCall }) {
    const ev = msg.event;
    this.finals.add(ev.turn);
    const draft = this.drafts.get(ev.turn);
    if (draft) { draft.el.remove(); this.drafts.delete(ev.turn); }
    const blocks = (msg.view && msg.view.blocks) || fallbackBlocks(ev.content);
    const parts = [];
    const cards = [];
    for (const b of blocks) {
      if (b.type === "thinking") {
        parts.push(h("details", { class: "thinking" },
          h("summary", {}, b.redacted ? "Thinking (redacted)" : "Thinking"),
          b.redacted ? h("p", { class: "muted" }, "The model's reasoning is encrypted.") : markdown(b.text, "thinking-text")));
      } else if (b.type === "text" && b.text.trim()) {
        parts.push(markdown(b.text, "agent-text"));
      } else if (b.type === "tool_call") {
        if (b.kind === "question") continue; // the question itself follows as its own item
        const card = this.card(b, msg);
        cards.push(card);
        onCall(b, card);
      }
    }
    if (cards.length) parts.push(h("div", { class: "tools" }, cards.map((c) => c.el)));
    const item = this.item("agent", "Agent", ev.at, parts);
    item.dataset.turn = ev.turn;
    this.place(msg.position, ev.type, item);
    // a question of an earlier turn that got no answer here is not open any more
    for (const q of this.questions.values()) if (q.turn < ev.turn) q.close();
  }

  toolResult(msg, { onResult }) {
    const ev = msg.event;
    const card = this.cards.get(ev.tool_use_id);
    if (!card) {
      // a result whose call is not shown (the log was read from the middle)
      const content = h("pre", {}, ev.content);
      this.place(msg.position, ev.type, this.item("agent", `Result of ${ev.name}`, ev.at,
        scroller(`Result of ${ev.name}`, content)));
      return;
    }
    card.setResult(msg.view, ev, msg.position, () => msg);
    if (msg.truncated) card.result.append(truncatedNote());
    onResult(card, msg.view, ev);
  }

  human(msg) {
    const ev = msg.event;
    const channel = CHANNEL_LABELS[ev.channel] || ev.channel;
    const who = ev.channel === "signal" ? "The problem recurred" : ev.author === "local" ? "You" : ev.author;
    const answer = ev.in_reply_to && this.questions.get(ev.in_reply_to);
    const item = this.item("human", who, ev.at,
      h("p", { class: "muted via" }, `via ${channel}`, answer ? " · answering the question above" : ""),
      markdown(ev.text));
    this.place(msg.position, ev.type, item);
    if (answer) answer.answered(ev);
    if (ev.channel !== "signal") announce(`${who} wrote: ${ev.text.slice(0, 120)}`);
  }

  question(msg) {
    const ev = msg.event;
    const approval = ev.kind === "approval";
    const textId = uid("answer");
    const status = h("p", { class: "muted", role: "status" });
    const textarea = h("textarea", { id: textId, rows: "2", required: true, class: "answer-text" });
    const submit = h("button", { type: "submit", class: "primary" }, approval ? "Request changes" : "Send answer");
    const buttons = [];
    const answer = (text) => {
      if (this.send(text)) {
        status.textContent = "Sent. The agent reads it at its next step.";
        for (const b of [...buttons, submit]) b.disabled = true;
      } else {
        status.textContent = "Not connected: the answer was not sent. Try again in a moment.";
      }
    };
    for (const option of ev.options || []) {
      if (approval && /^approve/i.test(option)) continue; // the Approve button says it
      buttons.push(h("button", { type: "button", class: "option", onclick: () => answer(option) }, option));
    }
    if (approval) {
      buttons.unshift(h("button", { type: "button", class: "approve primary", onclick: () => answer("Approved.") }, "Approve"));
    }
    const form = h("form", { class: "answer" },
      h("label", { for: textId }, approval ? "Or ask for changes" : "Your answer"),
      textarea, h("div", { class: "actions" }, submit));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = textarea.value.trim();
      if (text) { answer(text); textarea.value = ""; }
    });
    const controls = h("div", { class: "question-controls" },
      buttons.length ? h("div", { class: "options", role: "group", "aria-label": approval ? "Approval" : "Suggested answers" }, buttons) : null,
      form, status);
    const item = this.item(`question ${approval ? "approval" : ""}`, approval ? "Approval needed" : "Question for you", ev.at,
      markdown(ev.question), controls);
    this.place(msg.position, ev.type, item);
    const turn = parseInt(msg.position.slice(1, 7), 10);
    const ctl = {
      turn,
      open: true,
      answered: (reply) => {
        ctl.open = false;
        controls.replaceWith(h("p", { class: "answered" }, `Answered by ${reply.author === "local" ? "you" : reply.author}.`));
      },
      close: () => {
        if (!ctl.open) return;
        ctl.open = false;
        controls.remove();
      },
    };
    if (this.closed) ctl.close();
    this.questions.set(ev.tool_use_id || ev.wait_id, ctl);
    announce(approval ? "The agent asks for approval." : "The agent asks you a question.");
  }

  /** Whether a question waits for an answer. */
  waiting() {
    return [...this.questions.values()].some((q) => q.open);
  }

  delivered(msg) {
    const ev = msg.event;
    const pr = ev.pull_request;
    const heading = ev.kind === "pull_request" ? "Pull request opened" : "Concluded";
    const item = this.item("outcome delivered", heading, ev.at,
      h("p", { class: "outcome-title" }, pr ? externalLink(pr.url, `#${pr.number} ${ev.title}`) : ev.title),
      pr ? h("p", { class: "muted" }, "Branch ", h("code", {}, pr.branch), " into ", h("code", {}, pr.base)) : null,
      markdown(ev.body, "pr-body"),
      ev.diff ? h("p", {}, h("button", { type: "button", class: "link", onclick: this.onGoToChanges }, "See the change in Changes")) : null,
      rawToggle(() => msg));
    this.place(msg.position, ev.type, item);
    announce(heading);
  }

  failed(msg) {
    const ev = msg.event;
    this.place(msg.position, ev.type, this.item("outcome failed", "Failed", ev.at,
      h("p", {}, ev.error), ev.cause ? scroller("What went wrong", h("pre", {}, ev.cause)) : null, rawToggle(() => msg)));
    announce("The investigation failed.");
  }

  status(msg) {
    const ev = msg.event;
    this.place(msg.position, ev.type, h("li", { class: "item status-line" },
      h("p", {}, "Status: ", statusBadge(ev.status), ev.reason ? h("span", { class: "muted" }, ` ${ev.reason}`) : null, " ", time(ev.at, { short: true }))));
  }

  compaction(msg) {
    const ev = msg.event;
    this.place(msg.position, ev.type, h("li", { class: "item note" },
      h("details", {}, h("summary", {}, "Earlier turns were summarised for the model"), markdown(ev.summary))));
  }

  cleared(msg) {
    const ev = msg.event;
    this.place(msg.position, ev.type, h("li", { class: "item note" },
      h("p", { class: "muted" }, `Older tool output was shortened for the model (${plural(ev.cleared || 0, "result")}).`)));
  }

  /** fixloop's own words to the model before a turn: the budget left, or why it goes on. */
  note(msg) {
    const ev = msg.event;
    this.place(msg.position, ev.type, h("li", { class: "item note" },
      h("p", { class: "muted" }, `fixloop to the model: ${ev.text || ""}`)));
  }

  verification(msg, v) {
    this.place(msg.position, msg.event.type, this.item("verification", "Verification", msg.event.at,
      h("p", {}, v.fixed ? "The fix passes the check that failed before it." : "The fix did not pass verification."),
      rawToggle(() => msg)));
  }

  other(msg) {
    const type = String(msg.event.type || "event").replace(/_/g, " ");
    this.place(msg.position, msg.event.type || "event", this.item("note", type[0].toUpperCase() + type.slice(1), msg.event.at,
      rawToggle(() => msg)));
  }

  /** The investigation ended: no more answers. */
  end() {
    this.closed = true;
    for (const q of this.questions.values()) q.close();
    for (const draft of this.drafts.values()) draft.el.removeAttribute("aria-busy");
    for (const card of this.cards.values()) card.abandon();
  }
}

function sortKey(el) {
  return el.dataset.type === "signal" ? "" : el.dataset.position;
}

function truncatedNote() {
  return h("p", { class: "note" }, "Shortened here: the full output is in the investigation's log (fixloop show, or MCP).");
}

/** An assistant message without a view (it was too large to send with one). */
function fallbackBlocks(content) {
  return (content || []).map((b) => {
    if (b.type === "text") return { type: "text", text: b.text };
    if (b.type === "thinking") return { type: "thinking", text: b.thinking };
    if (b.type === "tool_use") return { type: "tool_call", id: b.id, name: b.name, kind: "other", title: b.name.replace(/_/g, " "), fields: [] };
    return { type: "other" };
  });
}
