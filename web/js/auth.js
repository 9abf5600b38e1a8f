// Who is watching: a Cognito user (hosted UI, authorization code with PKCE) when config.js
// names a user pool, else the local token `fixloop serve` / `--live` prints (in the link's
// fragment, which never reaches a server, or pasted).
//
// Tokens stay in sessionStorage (this tab only). The ID token is what the WebSocket's
// authorizer checks (fixloop/live/auth.py accepts ID or access tokens of the app client);
// it is refreshed with the refresh token shortly before it expires.

const LOCAL_KEY = "fixloop-token";
const TOKENS_KEY = "fixloop-cognito-tokens";
const PENDING_KEY = "fixloop-cognito-pending";
const EARLY_S = 120; // refresh this long before expiry

export function createAuth(config) {
  return config.userPoolDomain && config.userPoolClientId ? new CognitoAuth(config) : new LocalTokenAuth();
}

/** The fragment's parameters (#token=…&investigation=…). */
export function fragment() {
  return new URLSearchParams(location.hash.slice(1));
}

class LocalTokenAuth {
  constructor() {
    this.kind = "token";
    this.user = "";
  }

  /** Take a token from the link (and drop it from the address bar). */
  async init() {
    const params = fragment();
    const token = params.get("token");
    if (token) {
      sessionStorage.setItem(LOCAL_KEY, token);
      params.delete("token");
      const rest = params.toString();
      history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
    }
    return null;
  }

  async token() {
    return sessionStorage.getItem(LOCAL_KEY);
  }

  useToken(token) {
    sessionStorage.setItem(LOCAL_KEY, token);
  }

  signOut() {
    sessionStorage.removeItem(LOCAL_KEY);
  }
}

class CognitoAuth {
  constructor(config) {
    this.kind = "cognito";
    const domain = String(config.userPoolDomain).replace(/\/+$/, "");
    this.base = /^https?:\/\//.test(domain) ? domain : `https://${domain}`;
    this.clientId = config.userPoolClientId;
    this.scopes = config.oauthScopes || ["openid", "email", "profile"];
    this.redirectUri = config.redirectUri || `${location.origin}${location.pathname}`;
    this.user = "";
  }

  /** Finish a sign-in that comes back with ?code=…&state=… ; returns an error to show, if any. */
  async init() {
    const query = new URLSearchParams(location.search);
    const tokens = this.stored();
    if (tokens) this.user = userOf(tokens.id_token);
    if (!query.has("code") && !query.has("error")) return null;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    sessionStorage.removeItem(PENDING_KEY);
    const back = pending && pending.fragment ? `#${pending.fragment}` : "";
    history.replaceState(null, "", `${location.pathname}${back}`);
    if (query.has("error")) return `Sign-in failed: ${query.get("error_description") || query.get("error")}`;
    if (!pending || pending.state !== query.get("state")) return "Sign-in failed: the answer did not match the request. Sign in again.";
    try {
      this.keep(await this.post({
        grant_type: "authorization_code",
        client_id: this.clientId,
        code: query.get("code"),
        redirect_uri: this.redirectUri,
        code_verifier: pending.verifier,
      }));
    } catch (err) {
      return `Sign-in failed: ${err.message}`;
    }
    return null;
  }

  /** A valid ID token, refreshed if it is about to expire; null if a sign-in is needed. */
  async token() {
    const tokens = this.stored();
    if (!tokens) return null;
    if (tokens.expires_at - EARLY_S > Date.now() / 1000) return tokens.id_token;
    if (!tokens.refresh_token) return null;
    try {
      const fresh = await this.post({
        grant_type: "refresh_token", client_id: this.clientId, refresh_token: tokens.refresh_token,
      });
      this.keep({ refresh_token: tokens.refresh_token, ...fresh });
      return fresh.id_token;
    } catch {
      sessionStorage.removeItem(TOKENS_KEY);
      return null;
    }
  }

  /** Go to the hosted UI; it comes back to this page with a code. */
  async signIn() {
    const verifier = randomString(32);
    const state = randomString(16);
    const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, fragment: location.hash.slice(1) }));
    const url = new URL(`${this.base}/oauth2/authorize`);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.clientId,
      redirect_uri: this.redirectUri,
      scope: this.scopes.join(" "),
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    location.assign(url.toString());
  }

  signOut() {
    sessionStorage.removeItem(TOKENS_KEY);
    const url = new URL(`${this.base}/logout`);
    url.search = new URLSearchParams({ client_id: this.clientId, logout_uri: this.redirectUri }).toString();
    location.assign(url.toString());
  }

  stored() {
    return JSON.parse(sessionStorage.getItem(TOKENS_KEY) || "null");
  }

  keep(answer) {
    if (!answer.id_token) throw new Error("no ID token in the answer");
    const tokens = {
      id_token: answer.id_token,
      refresh_token: answer.refresh_token || null,
      expires_at: Math.floor(Date.now() / 1000) + Number(answer.expires_in || 3600),
    };
    sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    this.user = userOf(tokens.id_token);
  }

  async post(fields) {
    const resp = await fetch(`${this.base}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error_description || body.error || `HTTP ${resp.status}`);
    return body;
  }
}

function randomString(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Who an ID token names (its payload is read, not verified: the server verifies it). */
function userOf(idToken) {
  try {
    const payload = JSON.parse(atob(idToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.email || payload["cognito:username"] || payload.username || "";
  } catch {
    return "";
  }
}
