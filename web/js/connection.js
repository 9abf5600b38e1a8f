// The live WebSocket (fixloop/live/messages.py has the protocol).
//
// Send {action: "subscribe", investigation_id, after} / {action: "subscribe_list"} /
// {action: "send", investigation_id, text}; receive "event" messages (whole, or in "part"s to
// join), "subscribed", "investigation", "investigations", "sent", "error".
// Replay and live overlap on purpose: positions already seen are dropped, live events that
// arrive during the replay are held until "subscribed", then delivered in position order.
// A reconnect resumes from the start of the last turn seen (tool results of a turn land out
// of position order, so "after the greatest position" could skip a late sibling).

export function resumeAfter(lastSeen) {
  if (!lastSeen) return null;
  const turn = parseInt(lastSeen.slice(1, 7), 10);
  return turn > 0 ? `t${String(turn - 1).padStart(6, "0")}.9` : null;
}

export class Connection {
  /**
   * @param {object} o
   * @param {() => string} o.url        the WebSocket URL without the token
   * @param {() => Promise<string|null>} o.token  a fresh token (null: not signed in)
   * @param {(msg: object) => void} o.onEvent      each log event once, in order
   * @param {(msg: object) => void} o.onMessage    every other message
   * @param {(state: string) => void} o.onState    "connecting", "replaying", "live", "offline"
   * @param {() => void} o.onUnauthorized          the token was refused more than once
   */
  constructor(o) {
    Object.assign(this, o);
    this.ws = null;
    this.subscription = null;
    this.seen = new Set();
    this.held = [];
    this.parts = new Map();
    this.replaying = false;
    this.retry = 0;
    this.refused = 0;
    this.closed = false;
    this.timer = null;
  }

  /** Follow one investigation ({investigation: id}) or the list ({list: true}). */
  async open(subscription) {
    this.subscription = subscription;
    this.closed = false;
    await this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  async connect() {
    if (this.closed) return;
    this.onState("connecting");
    const token = await this.token();
    if (!token) { this.onUnauthorized(); return; }
    if (this.closed) return;
    const ws = new WebSocket(`${this.url()}?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.retry = 0;
      this.refused = 0;
      const sub = this.subscription;
      if (sub.investigation) {
        this.replaying = true;
        this.held = [];
        this.onState("replaying");
        this.send({ action: "subscribe", investigation_id: sub.investigation, after: resumeAfter(this.maxSeen()) });
      } else {
        this.onState("live");
        this.send({ action: "subscribe_list" });
      }
    };
    ws.onmessage = (msg) => this.receive(JSON.parse(msg.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onState("offline");
      if (!opened) this.refused += 1;
      if (this.refused >= 2) { this.onUnauthorized(); return; } // a refused handshake: the token
      const delay = Math.min(10000, 300 * 2 ** this.retry++);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  maxSeen() {
    let max = null;
    for (const p of this.seen) if (max === null || p > max) max = p;
    return max;
  }

  receive(msg) {
    if (msg.kind === "part") {
      const key = msg.position;
      const parts = this.parts.get(key) || [];
      parts[msg.part] = msg.data;
      this.parts.set(key, parts);
      if (parts.filter((p) => p !== undefined).length < msg.parts) return;
      this.parts.delete(key);
      this.receive(JSON.parse(parts.join("")));
      return;
    }
    if (msg.kind === "event") {
      const sub = this.subscription;
      if (!sub || msg.investigation_id !== sub.investigation) return;
      if (this.replaying && !msg.replay) { this.held.push(msg); return; }
      this.deliver(msg);
      return;
    }
    if (msg.kind === "subscribed") {
      this.replaying = false;
      this.held.sort((a, b) => (a.position < b.position ? -1 : 1)).forEach((m) => this.deliver(m));
      this.held = [];
      this.onState("live");
    }
    this.onMessage(msg);
  }

  deliver(msg) {
    if (this.seen.has(msg.position)) return;
    this.seen.add(msg.position);
    this.onEvent(msg);
  }
}
