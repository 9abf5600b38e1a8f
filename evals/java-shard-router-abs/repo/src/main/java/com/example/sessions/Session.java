package com.example.sessions;

/** A signed-in session: who it is and until when (epoch seconds). */
public record Session(String id, String userId, long expiresAt) {
    public boolean isExpired(long now) {
        return now >= expiresAt;
    }
}
