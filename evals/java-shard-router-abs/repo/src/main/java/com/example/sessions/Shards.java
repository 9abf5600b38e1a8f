package com.example.sessions;

import java.util.ArrayList;
import java.util.List;

/** The shard list of a deployment: the SESSION_SHARDS variable, "sessions-00,sessions-01,...". */
public final class Shards {
    private Shards() {
    }

    public static List<String> parse(String value) {
        List<String> shards = new ArrayList<>();
        for (String name : value.split(",")) {
            if (!name.isBlank()) {
                shards.add(name.trim());
            }
        }
        return shards;
    }

    public static List<String> fromEnvironment() {
        String value = System.getenv("SESSION_SHARDS");
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("SESSION_SHARDS is not set");
        }
        return parse(value);
    }
}
