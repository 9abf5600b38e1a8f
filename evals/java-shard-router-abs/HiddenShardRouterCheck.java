package com.example.sessions;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Hidden check: every session id has a shard (an id whose String.hashCode() is
 * Integer.MIN_VALUE included), and the shard of every other id is the one it had before the
 * fix (a changed mapping loses existing sessions). Exit 0 only when all hold.
 */
public final class HiddenShardRouterCheck {
    public static void main(String[] args) {
        List<String> shards = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            shards.add(String.format("sessions-%02d", i));
        }
        ShardRouter router = new ShardRouter(shards);
        int failures = 0;
        for (String id : List.of("Sc7Tvo_hBKqFYY_kZa6ruy", "polygenelubricants")) {
            try {
                String shard = router.shardFor(id);
                if (!shards.contains(shard)) {
                    System.out.println("FAIL " + id + ": not a shard: " + shard);
                    failures++;
                }
            } catch (RuntimeException e) {
                System.out.println("FAIL " + id + " (hashCode " + id.hashCode() + "): " + e);
                failures++;
            }
        }
        Random random = new Random(16);
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int n = 0; n < 20000; n++) {
            StringBuilder id = new StringBuilder();
            for (int i = 0; i < 22; i++) {
                id.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            int hash = id.toString().hashCode();
            if (hash == Integer.MIN_VALUE) {
                continue;
            }
            String before = shards.get(Math.abs(hash) % shards.size());
            String now = router.shardFor(id.toString());
            if (!before.equals(now)) {
                System.out.println("FAIL " + id + " moved from " + before + " to " + now + " (existing sessions are lost)");
                failures++;
                break;
            }
        }
        System.out.println(failures == 0 ? "hidden check passed" : failures + " hidden check(s) failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
