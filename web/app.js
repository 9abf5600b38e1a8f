// fixloop live view: the investigations, and one investigation as a live thread.
//
// Protocol (fixloop/live/messages.py): send {action: "list"} / {action: "subscribe",
// investigation_id, after} / {action: "send", investigation_id, text}; receive "event"
// messages (whole, or in "part"s to join), "subscribed", "investigations", "sent", "error".
// Replay and live overlap on purpose: positions already seen are dropped, live events that
// arrive during the replay are held until "subscribed", and the thread is kept in position
// order. A reconnect resumes from the start of the last turn seen (resumeAfter).
"use strict";

const state = {
  token: null,
  ws: null,
  investigation: null,
  seen: new Set(),
  held: [],
  replaying: false,
  parts: new Map(),
  retry: 0,
  toolCards: new Map(),   // tool_use_id -> element
  drafts: new Map(),      // turn -> {attempt, el, blocks: Map(index -> {kind, text})}
  finals: new Set(),      // turns whose assistant message arrived
};

const $ = (sel) => document.querySelector(sel);

function params() {
  const out = new URLSearchParams(location.hash.slice(1));
  return { token: out.get("token"), investigation: out.get("investigation") };
}

function wsUrl() {
  const configured = (window.FIXLOOP_CONFIG || {}).websocketUrl;
  const base = configured || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  return `${base}?token=${encodeURIComponent(state.token)}`;
}

function resumeAfter(lastSeen) {
  if (!lastSeen) return null;
  const turn = parseInt(lastSeen.slice(1, 7), 10);
  return turn > 0 ? `t${String(turn - 1).padStart(6, "0")}.9` : null;
}

function maxSeen() {
  let max = null;
  for (const p of state.seen) if (max === null || p > max) max = p;
  return max;
}

function setConnection(label, kind) {
  const el = $("#connection");
  el.textContent = label;
  el.dataset.state = kind;
}

function showError(text) {
  const el = $("#error");
  el.textContent = text;
  el.hidden = !text;
}

// -- connection -------------------------------------------------------------------------
function connect() {
  setConnection("connecting", "connecting");
  const ws = new WebSocket(wsUrl());
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 0;
    showError("");
    if (state.investigation) {
      state.replaying = true;
      setConnection("replaying", "replaying");
      send({ action: "subscribe", investigation_id: state.investigation, after: resumeAfter(maxSeen()) });
    } else {
      setConnection("live", "live");
      send({ action: "list" });
    }
  };
  ws.onmessage = (msg) => receive(JSON.parse(msg.data));
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    setConnection("offline", "closed");
    if (ev.code === 1008 || ev.code === 1006 && state.retry > 3) showError("Not connected (is the token right?). Retrying…");
    const delay = Math.min(10000, 300 * 2 ** state.retry++);
    setTimeout(connect, delay);
  };
}

function send(obj) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(obj));
    return true;
  }
  return false;
}

function receive(msg) {
  if (msg.kind === "part") {
    const key = msg.position;
    const parts = state.parts.get(key) || [];
    parts[msg.part] = msg.data;
    state.parts.set(key, parts);
    if (parts.filter((p) => p !== undefined).length < msg.parts) return;
    state.parts.delete(key);
    receive(JSON.parse(parts.join("")));
    return;
  }
  if (msg.kind === "event") {
    if (msg.investigation_id !== state.investigation) return;
    if (state.replaying && !msg.replay) { state.held.push(msg); return; }
    deliver(msg);
  } else if (msg.kind === "subscribed") {
    state.replaying = false;
    state.held.sort((a, b) => (a.position < b.position ? -1 : 1)).forEach(deliver);
    state.held = [];
    setConnection("live", "live");
  } else if (msg.kind === "investigations") {
    renderList(msg.items);
  } else if (msg.kind === "sent") {
    $("#reply-text").value = "";
  } else if (msg.kind === "error") {
    showError(msg.message);
  }
}

function deliver(msg) {
  if (state.seen.has(msg.position)) return;
  state.seen.add(msg.position);
  render(msg.position, msg.event, !!msg.truncated);
}

// -- the list -----------------------------------------------------------------------------
function renderList(items) {
  const body = $("#investigations tbody");
  body.replaceChildren();
  $("#list-empty").hidden = items.length > 0;
  for (const inv of items) {
    const tr = document.createElement("tr");
    tr.className = "inv";
    tr.dataset.id = inv.investigation_id;
    tr.append(
      cell(inv.title || inv.investigation_id),
      cell(inv.status, `status status-${inv.status}`),
      cell(String(inv.turns)),
      cell(inv.pull_request ? "" : inv.outcome || ""),
    );
    if (inv.pull_request) tr.lastChild.append(link(inv.pull_request, "pull request"));
    tr.onclick = () => { location.hash = `investigation=${encodeURIComponent(inv.investigation_id)}`; };
    body.append(tr);
  }
}

function cell(text, cls) {
  const td = document.createElement("td");
  const span = document.createElement("span");
  span.textContent = text;
  if (cls) span.className = cls;
  td.append(span);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.target = "_blank";
  a.rel = "noopener";
  return a;
}

// -- the thread ---------------------------------------------------------------------------
function item(position, type, cls) {
  const li = document.createElement("li");
  li.className = `event ${cls || ""}`;
  li.dataset.position = position;
  li.dataset.type = type;
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${position} · ${type.replace("_", " ")}`;
  li.append(meta);
  // keep the thread in position order: a late sibling (parallel tool results) goes in place
  const thread = $("#thread");
  let before = null;
  for (const other of thread.children) {
    if (other.dataset.position > position) { before = other; break; }
  }
  thread.insertBefore(li, before);
  return li;
}

function para(parent, text, cls) {
  const p = document.createElement("div");
  if (cls) p.className = cls;
  p.textContent = text;
  parent.append(p);
  return p;
}

function render(position, ev, truncated) {
  switch (ev.type) {
    case "signal": {
      const li = item(position, ev.type);
      para(li, ev.signal.title || "signal");
      break;
    }
    case "user_message": {
      const li = item(position, ev.type, "user");
      para(li, `${ev.author} via ${ev.channel}: ${ev.text}`);
      break;
    }
    case "stream_chunk":
      renderChunk(position, ev);
      break;
    case "assistant_message":
      renderAssistant(position, ev);
      break;
    case "tool_result":
      renderToolResult(position, ev, truncated);
      break;
    case "question_asked": {
      const li = item(position, ev.type, "question");
      para(li, ev.question);
      const buttons = document.createElement("div");
      for (const option of ev.options || []) {
        const b = document.createElement("button");
        b.textContent = option;
        b.onclick = () => answer(ev, option);
        buttons.append(b);
      }
      if (ev.kind === "approval") {
        const approve = document.createElement("button");
        approve.textContent = "Approve";
        approve.className = "approve";
        approve.onclick = () => answer(ev, "Approved.");
        buttons.append(approve);
      }
      li.append(buttons);
      break;
    }
    case "delivered": {
      const li = item(position, ev.type, "delivered");
      para(li, ev.kind === "pull_request" ? `Pull request: ${ev.title}` : `Summary: ${ev.title}`);
      if (ev.pull_request) li.append(link(ev.pull_request.url, ev.pull_request.url));
      para(li, ev.body);
      break;
    }
    case "failed": {
      const li = item(position, ev.type, "failed");
      para(li, `${ev.error}: ${ev.cause}`);
      break;
    }
    case "status_changed": {
      const li = item(position, ev.type);
      para(li, `${ev.status}${ev.reason ? `: ${ev.reason}` : ""}`);
      break;
    }
    case "compaction_summary": {
      const li = item(position, ev.type);
      para(li, ev.summary);
      break;
    }
    default: {
      const li = item(position, ev.type || "event");
      para(li, JSON.stringify(ev));
    }
  }
  if (truncated) para($(`[data-position="${position}"]`) || $("#thread"), "(shortened: the full event is in the log)", "meta");
  window.scrollTo(0, document.body.scrollHeight);
}

function renderChunk(position, ev) {
  if (state.finals.has(ev.turn)) return; // the final message is already shown
  let draft = state.drafts.get(ev.turn);
  if (draft && ev.attempt > draft.attempt) { draft.el.remove(); draft = null; }  // a retry
  if (draft && ev.attempt < draft.attempt) return;
  if (!draft) {
    draft = { attempt: ev.attempt, el: item(position, "stream", "draft"), blocks: new Map() };
    state.drafts.set(ev.turn, draft);
  }
  for (const f of ev.fragments) {
    let block = draft.blocks.get(f.index);
    if (!block) {
      const label = f.kind === "tool_input" ? "preparing a tool call… " : "";
      block = { el: para(draft.el, label, f.kind === "thinking" ? "reasoning" : f.kind) };
      draft.blocks.set(f.index, block);
    }
    block.el.textContent += f.text;
  }
}

function renderAssistant(position, ev) {
  state.finals.add(ev.turn);
  const draft = state.drafts.get(ev.turn);
  if (draft) { draft.el.remove(); state.drafts.delete(ev.turn); }
  const li = item(position, ev.type);
  for (const block of ev.content) {
    if (block.type === "thinking") {
      para(li, block.thinking, "reasoning");
    } else if (block.type === "text" && block.text.trim()) {
      para(li, block.text, "text");
    } else if (block.type === "tool_use") {
      const card = document.createElement("details");
      card.className = "tool-call";
      card.dataset.toolUseId = block.id;
      const summary = document.createElement("summary");
      summary.textContent = `${block.name} ${JSON.stringify(block.input)}`;
      card.append(summary);
      li.append(card);
      state.toolCards.set(block.id, card);
    }
  }
}

function renderToolResult(position, ev, truncated) {
  const card = state.toolCards.get(ev.tool_use_id);
  if (!card) {
    const li = item(position, ev.type, "tool-call");
    para(li, `${ev.name}: ${ev.content}`);
    return;
  }
  const pre = document.createElement("pre");
  pre.className = "tool-result";
  pre.dataset.position = position;
  pre.textContent = ev.content;
  card.append(pre);
  card.classList.toggle("error", !!ev.is_error);
  card.querySelector("summary").textContent += ev.is_error ? "  ✗" : "  ✓";
  // the result is folded into its call; an invisible marker keeps its position for order
  const marker = item(position, ev.type, "marker");
  marker.hidden = true;
}

function answer(ev, text) {
  // Through the inbox like any message: the first reply answers the question the agent waits
  // on ("Approved." approves a pull request waiting for approval).
  send({ action: "send", investigation_id: state.investigation, text });
}

// -- navigation ---------------------------------------------------------------------------
function open() {
  const p = params();
  if (p.token) { state.token = p.token; sessionStorage.setItem("fixloop-token", p.token); }
  state.token = state.token || sessionStorage.getItem("fixloop-token");
  if (!state.token) {
    $("#signin").hidden = false;
    return;
  }
  $("#signin").hidden = true;
  state.investigation = p.investigation;
  state.seen = new Set(); state.held = []; state.toolCards = new Map();
  state.drafts = new Map(); state.finals = new Set(); state.parts = new Map();
  $("#thread").replaceChildren();
  $("#list-view").hidden = !!state.investigation;
  $("#thread-view").hidden = !state.investigation;
  $("#title").textContent = state.investigation || "";
  if (state.ws) { const old = state.ws; state.ws = null; old.close(); }
  connect();
}

$("#reply").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#reply-text").value.trim();
  if (text && !send({ action: "send", investigation_id: state.investigation, text })) {
    showError("Not connected: the message was not sent.");
  }
});
$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = `token=${encodeURIComponent($("#token-input").value)}`;
});
$("#home").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
window.addEventListener("hashchange", open);
open();
