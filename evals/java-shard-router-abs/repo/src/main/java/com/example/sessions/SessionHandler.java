package com.example.sessions;

import java.net.URI;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;

/**
 * The Lambda handler of GET /me (API Gateway HTTP API, payload 2.0): who the session cookie
 * belongs to. Handler string: com.example.sessions.SessionHandler::handleRequest.
 */
public final class SessionHandler {
    private final ShardRouter router;
    private final SessionStore store;
    private final Clock clock;

    public SessionHandler() {
        this(new ShardRouter(Shards.fromEnvironment()),
                new HttpSessionStore(URI.create(System.getenv("SESSIONS_ENDPOINT"))), Clock.systemUTC());
    }

    public SessionHandler(ShardRouter router, SessionStore store, Clock clock) {
        this.router = router;
        this.store = store;
        this.clock = clock;
    }

    public Map<String, Object> handleRequest(Map<String, Object> event, Object context) {
        Optional<String> sessionId = sessionCookie(event);
        if (sessionId.isEmpty()) {
            return response(401, "{\"error\":\"not signed in\"}");
        }
        String shard = router.shardFor(sessionId.get());
        Optional<Session> session = store.find(shard, sessionId.get());
        if (session.isEmpty() || session.get().isExpired(clock.instant().getEpochSecond())) {
            return response(401, "{\"error\":\"session expired\"}");
        }
        return response(200, "{\"userId\":\"" + session.get().userId() + "\"}");
    }

    static Optional<String> sessionCookie(Map<String, Object> event) {
        Object cookies = event.get("cookies");
        if (!(cookies instanceof Iterable<?> list)) {
            return Optional.empty();
        }
        for (Object cookie : list) {
            String text = String.valueOf(cookie).trim();
            if (text.startsWith("sid=") && text.length() > 4) {
                return Optional.of(text.substring(4));
            }
        }
        return Optional.empty();
    }

    private static Map<String, Object> response(int status, String body) {
        return Map.of("statusCode", status, "headers", Map.of("content-type", "application/json"), "body", body);
    }
}
