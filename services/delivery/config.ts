import { z } from "zod";
import { defineConfig } from "../kit/config.js";

export const deliveryConfig = defineConfig({
  retentionSeconds: {
    env: "PARLEY_DELIVERY_RETENTION_SECONDS",
    schema: z.coerce
      .number()
      .int()
      .min(60)
      .default(7 * 24 * 3600),
    help: "How long inbox events are kept for resume; an older cursor gets cursor_expired (default 7 days).",
  },
  sweepSeconds: {
    env: "PARLEY_DELIVERY_SWEEP_SECONDS",
    schema: z.coerce.number().int().min(1).default(600),
    help: "How often the retention sweep deletes inbox events older than the retention.",
  },
  maxBatch: {
    env: "PARLEY_DELIVERY_MAX_BATCH",
    schema: z.coerce.number().int().min(1).max(5000).default(500),
    help: "Most log records fanned out in one inbox transaction.",
  },
  typingLimit: {
    env: "PARLEY_DELIVERY_TYPING_LIMIT",
    schema: z.coerce.number().int().min(1).default(20),
    help: "Typing signals a user may send per window; more are refused (resource_exhausted).",
  },
  typingWindowSeconds: {
    env: "PARLEY_DELIVERY_TYPING_WINDOW_SECONDS",
    schema: z.coerce.number().int().min(1).default(10),
    help: "The window of PARLEY_DELIVERY_TYPING_LIMIT, in seconds.",
  },
  pushTimeoutMs: {
    env: "PARLEY_DELIVERY_PUSH_TIMEOUT_MS",
    schema: z.coerce.number().int().min(50).default(2000),
    help: "How long a push waits for a gateway node's acknowledgement before it counts as failed.",
  },
  pushRetrySeconds: {
    env: "PARLEY_DELIVERY_PUSH_RETRY_SECONDS",
    schema: z.coerce.number().int().min(0).default(60),
    help:
      "How long a user's failed push (streams not located, node not answering) is retried, about every " +
      "second, before the stream is left to catch up on its next event (default 2 × the gateways' node TTL; 0: off).",
  },
  pushRetryMaxUsers: {
    env: "PARLEY_DELIVERY_PUSH_RETRY_MAX_USERS",
    schema: z.coerce.number().int().min(1).default(100_000),
    help: "Most users whose failed push is held for retrying; past it the oldest is dropped (counted).",
  },
  presenceGroupMaxMembers: {
    env: "PARLEY_DELIVERY_PRESENCE_GROUP_MAX_MEMBERS",
    schema: z.coerce.number().int().min(0).default(100),
    help:
      "Presence changes are pushed to co-members of groups of at most this many members (0: every group); " +
      "in larger groups clients ask GetPresence. Each member of an N-member group coming online pushes N - 1 events.",
  },
  cacheSeconds: {
    env: "PARLEY_DELIVERY_CACHE_SECONDS",
    schema: z.coerce.number().int().min(1).default(300),
    help: "How long unwrapped data keys and usernames stay cached in delivery.",
  },
});

export type DeliveryConfig = ReturnType<typeof deliveryConfig.load>;
