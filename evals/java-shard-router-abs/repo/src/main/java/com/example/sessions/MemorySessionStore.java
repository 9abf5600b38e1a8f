package com.example.sessions;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/** Sessions in memory, per shard: for tests and local runs. */
public final class MemorySessionStore implements SessionStore {
    private final Map<String, Map<String, Session>> tables = new HashMap<>();

    @Override
    public Optional<Session> find(String shard, String sessionId) {
        return Optional.ofNullable(tables.getOrDefault(shard, Map.of()).get(sessionId));
    }

    @Override
    public void save(String shard, Session session) {
        tables.computeIfAbsent(shard, k -> new HashMap<>()).put(session.id(), session);
    }
}
