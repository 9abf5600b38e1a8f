package com.example.sessions;

import java.util.List;

/**
 * Picks the table shard that holds a session. The mapping from session id to shard is
 * persistent: a session is written to one shard when it is created and looked up there on
 * every request after, so changing the mapping for an existing id loses that session.
 */
public final class ShardRouter {
    private final List<String> shards;

    public ShardRouter(List<String> shards) {
        if (shards.isEmpty()) {
            throw new IllegalArgumentException("at least one shard is needed");
        }
        this.shards = List.copyOf(shards);
    }

    public int shardCount() {
        return shards.size();
    }

    /** The shard of a session id: always the same one for the same id and shard list. */
    public String shardFor(String sessionId) {
        int index = Math.abs(sessionId.hashCode()) % shards.size();
        return shards.get(index);
    }
}
