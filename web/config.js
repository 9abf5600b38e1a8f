// Where the live WebSocket API is. null: this page's own server at /ws (the embedded
// runtime). A deployment writes its API Gateway URL here (wss://{api}.execute-api.{region}.amazonaws.com/{stage}).
window.FIXLOOP_CONFIG = { websocketUrl: null };
