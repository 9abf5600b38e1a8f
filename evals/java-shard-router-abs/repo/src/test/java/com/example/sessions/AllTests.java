package com.example.sessions;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;

/** The tests, without a framework: each check throws AssertionError; exit 1 on a failure. */
public final class AllTests {
    private static int failed;

    public static void main(String[] args) {
        check("shard list parsing", AllTests::parsesShards);
        check("same id, same shard", AllTests::routesStably);
        check("signed-in session", AllTests::answersUser);
        check("no cookie", AllTests::noCookie);
        System.out.println(failed == 0 ? "all tests passed" : failed + " test(s) failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    private static void check(String name, Runnable test) {
        try {
            test.run();
            System.out.println("ok   " + name);
        } catch (RuntimeException | AssertionError e) {
            failed++;
            System.out.println("FAIL " + name + ": " + e);
        }
    }

    private static void equal(Object expected, Object actual) {
        if (!expected.equals(actual)) {
            throw new AssertionError("expected " + expected + ", got " + actual);
        }
    }

    static void parsesShards() {
        equal(List.of("sessions-00", "sessions-01"), Shards.parse("sessions-00, sessions-01,"));
    }

    static void routesStably() {
        ShardRouter router = new ShardRouter(List.of("a", "b", "c"));
        for (String id : List.of("x", "4fJq0yQ1y2sW8bLr5tZt0A", "session")) {
            equal(router.shardFor(id), router.shardFor(id));
        }
    }

    static void answersUser() {
        ShardRouter router = new ShardRouter(List.of("s0", "s1", "s2"));
        MemorySessionStore store = new MemorySessionStore();
        store.save(router.shardFor("abc"), new Session("abc", "u-1", 2_000_000_000L));
        Clock clock = Clock.fixed(Instant.ofEpochSecond(1_800_000_000L), ZoneOffset.UTC);
        Map<String, Object> response = new SessionHandler(router, store, clock)
                .handleRequest(Map.of("cookies", List.of("theme=dark", "sid=abc")), null);
        equal(200, response.get("statusCode"));
        equal("{\"userId\":\"u-1\"}", response.get("body"));
    }

    static void noCookie() {
        SessionHandler handler = new SessionHandler(new ShardRouter(List.of("s0")), new MemorySessionStore(), Clock.systemUTC());
        equal(401, handler.handleRequest(Map.of(), null).get("statusCode"));
    }
}
