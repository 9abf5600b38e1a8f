package com.example.sessions;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The sessions service of the platform team (SESSIONS_ENDPOINT), one table per shard. */
public final class HttpSessionStore implements SessionStore {
    private static final Pattern USER = Pattern.compile("\"userId\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern EXPIRES = Pattern.compile("\"expiresAt\"\\s*:\\s*(\\d+)");

    private final HttpClient client = HttpClient.newHttpClient();
    private final URI endpoint;

    public HttpSessionStore(URI endpoint) {
        this.endpoint = endpoint;
    }

    @Override
    public Optional<Session> find(String shard, String sessionId) {
        HttpRequest request = HttpRequest.newBuilder(endpoint.resolve("/tables/" + shard + "/sessions/" + sessionId)).GET().build();
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() == 404) {
                return Optional.empty();
            }
            Matcher user = USER.matcher(response.body());
            Matcher expires = EXPIRES.matcher(response.body());
            if (response.statusCode() != 200 || !user.find() || !expires.find()) {
                throw new IllegalStateException("sessions service answered " + response.statusCode());
            }
            return Optional.of(new Session(sessionId, user.group(1), Long.parseLong(expires.group(1))));
        } catch (IOException e) {
            throw new IllegalStateException("sessions service unreachable", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void save(String shard, Session session) {
        String body = "{\"userId\":\"" + session.userId() + "\",\"expiresAt\":" + session.expiresAt() + "}";
        HttpRequest request = HttpRequest.newBuilder(endpoint.resolve("/tables/" + shard + "/sessions/" + session.id()))
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build();
        try {
            client.send(request, HttpResponse.BodyHandlers.discarding());
        } catch (IOException e) {
            throw new IllegalStateException("sessions service unreachable", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
