package com.example.sessions;

import java.util.Optional;

/** Where sessions live: one table per shard. */
public interface SessionStore {
    Optional<Session> find(String shard, String sessionId);

    void save(String shard, Session session);
}
