// Where the live view finds fixloop, and how people sign in. This file is the page's only
// configuration: a deployment replaces it with a generated one (same keys), the rest of web/
// is served as is. Every key may be left null.
//
//   websocketUrl      the WebSocket API, wss://{api}.execute-api.{region}.amazonaws.com/{stage};
//                     null: this page's own server at /ws (fixloop serve, --live)
//   apiUrl            the REST API and webhooks (https://...); null: this page's own server
//   mcpUrl            the MCP endpoint (https://.../mcp), shown to people connecting an IDE;
//                     null: this page's own server at /mcp/
//   region            the AWS region of the deployment (eu-west-1)
//   userPoolDomain    the Cognito hosted UI domain (fixloop-123.auth.eu-west-1.amazoncognito.com,
//                     or a custom domain; a scheme is optional). With userPoolClientId set, people
//                     sign in there (authorization code with PKCE); otherwise the page uses the
//                     token the local server prints.
//   userPoolClientId  the app client: public (no secret), authorization code grant, this page's
//                     URL among its callback and sign-out URLs
//   userPoolId        the user pool (eu-west-1_AbCdEf123), for reference
//   oauthScopes       scopes asked for; default ["openid", "email", "profile"]
//   redirectUri       where the hosted UI returns; default: this page's URL without query or fragment
window.FIXLOOP_CONFIG = {
  websocketUrl: null,
  apiUrl: null,
  mcpUrl: null,
  region: null,
  userPoolDomain: null,
  userPoolClientId: null,
  userPoolId: null,
  oauthScopes: ["openid", "email", "profile"],
  redirectUri: null,
};
