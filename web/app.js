// fixloop live view: the investigations, and one investigation as a page to watch and steer.
//
// Static files, no build step: the same page works from `fixloop serve`, `fixloop run --live`
// and a deployment (config.js says where the WebSocket API is and how to sign in).
// Routes live in the fragment: "#" the list, "#investigation=ID" one investigation (a
// "token=…" in it signs in locally and is dropped from the address bar).
import { $, $$ } from "./js/dom.js";
import { createAuth, fragment } from "./js/auth.js";
import { Connection } from "./js/connection.js";
import { ListView } from "./js/list.js";
import { InvestigationView } from "./js/investigation.js";

const config = { ...(window.FIXLOOP_CONFIG || {}) };
const auth = createAuth(config);
const CONNECTION_LABELS = { connecting: "Connecting…", replaying: "Catching up…", live: "Live", offline: "Offline" };

let connection = null;
const list = new ListView($("#list-view"));
const page = new InvestigationView($("#investigation-view"), { send: (obj) => !!connection && connection.send(obj) });

function notice(text) {
  const el = $("#notice");
  el.textContent = text || "";
  el.hidden = !text;
}

function setConnection(state) {
  const el = $("#connection");
  el.textContent = CONNECTION_LABELS[state] || state;
  el.dataset.state = state;
}

function wsUrl() {
  return config.websocketUrl || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

function showSignIn(message) {
  if (connection) { connection.close(); connection = null; }
  list.hide();
  page.close();
  $("#sections").hidden = true;
  $("#signin").hidden = false;
  $("#signin-cognito").hidden = auth.kind !== "cognito";
  $("#token-form").hidden = auth.kind === "cognito";
  setConnection("offline");
  notice(message || "");
}

function route() {
  const id = fragment().get("investigation");
  return { investigation: id || null };
}

async function open() {
  const where = route();
  if (location.hash.startsWith("#d2h")) return; // a file of the diff, not a page
  if (!(await auth.token())) { showSignIn(); return; }
  $("#signin").hidden = true;
  notice("");
  $("#user").textContent = auth.user || "";
  $("#sign-out").hidden = auth.kind !== "cognito";
  if (connection) connection.close();
  connection = new Connection({
    url: wsUrl,
    token: () => auth.token(),
    onState: setConnection,
    onUnauthorized: () => showSignIn(auth.kind === "cognito"
      ? "Your session has ended: sign in again."
      : "The token was not accepted: open the link the server printed, or paste its token."),
    onEvent: (msg) => page.onEvent(msg),
    onMessage: receive,
  });
  if (where.investigation) {
    list.hide();
    $("#sections").hidden = false;
    page.open(where.investigation);
    await connection.open({ investigation: where.investigation });
  } else {
    page.close();
    $("#sections").hidden = true;
    document.title = "Investigations · fixloop";
    list.show();
    await connection.open({ list: true });
  }
}

function receive(msg) {
  const where = route();
  if (msg.kind === "investigations") {
    list.setItems(msg.items);
  } else if (msg.kind === "investigation") {
    if (where.investigation) page.onSummary(msg.investigation);
    else list.upsert(msg.investigation);
  } else if (msg.kind === "sent") {
    page.onSent();
  } else if (msg.kind === "error") {
    if (where.investigation) page.onError(msg.message);
    notice(msg.message);
  }
}

$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  auth.useToken($("#token-input").value.trim());
  $("#token-input").value = "";
  open();
});
$("#signin-button").addEventListener("click", () => auth.signIn());
$("#sign-out").addEventListener("click", () => { if (connection) connection.close(); auth.signOut(); });
$("#home").addEventListener("click", (e) => {
  e.preventDefault();
  history.pushState(null, "", location.pathname);
  open();
});
for (const button of $$("#sections [data-goto]")) {
  button.addEventListener("click", () => page.goTo($(`#${button.dataset.goto}`)));
}
window.addEventListener("hashchange", open);
// The bar is sticky and wraps on narrow screens: what scrolls into view keeps clear of it.
new ResizeObserver(([entry]) => {
  document.documentElement.style.setProperty("--topbar-h", `${Math.ceil(entry.target.getBoundingClientRect().height)}px`);
}).observe($(".topbar"));

const problem = await auth.init();
if (problem) showSignIn(problem);
else open();
