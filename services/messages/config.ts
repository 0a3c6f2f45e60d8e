import { z } from "zod";
import { defineConfig, list, seconds } from "../kit/config.js";
import { parseReplication } from "./history.cql.replication.js";

const positiveInt = () => z.coerce.number().int().positive();

export const messagesConfig = defineConfig({
  maxContentBytes: {
    env: "PARLEY_MESSAGES_MAX_CONTENT_BYTES",
    schema: positiveInt().default(64 * 1024),
    help: "Largest message content accepted, in UTF-8 bytes.",
  },
  sendLimit: {
    env: "PARLEY_MESSAGES_SEND_LIMIT",
    schema: positiveInt().default(100),
    help: "Sends allowed per user per send window.",
  },
  sendWindowSeconds: {
    env: "PARLEY_MESSAGES_SEND_WINDOW_SECONDS",
    schema: seconds().default(10),
    help: "Length of the per-user send rate-limit window.",
  },
  persisterBatchWaitMs: {
    env: "PARLEY_MESSAGES_PERSISTER_BATCH_WAIT_MS",
    schema: z.coerce.number().int().min(0).max(5000).default(100),
    help:
      "How long the persister lets new messages gather before writing them to history (0: at once). " +
      "Fewer, larger log fetches and history writes for a little more persister lag; reads are unaffected " +
      "(they read the log's tail).",
  },
  dataKeyCacheSeconds: {
    env: "PARLEY_MESSAGES_DATA_KEY_CACHE_SECONDS",
    schema: seconds().default(300),
    help: "How long an unwrapped conversation data key stays in memory before crypto is asked again.",
  },
  directoryCacheSeconds: {
    env: "PARLEY_MESSAGES_DIRECTORY_CACHE_SECONDS",
    schema: seconds().default(60),
    help: "How long a resolved username (recipient lookups, usernames on reads) stays cached.",
  },
  cqlContactPoints: {
    env: "PARLEY_MESSAGES_CQL_CONTACT_POINTS",
    schema: list().default([]),
    help: "Cassandra/ScyllaDB nodes (host:port, comma-separated) for history. Unset: history on the messages SQL database.",
  },
  cqlLocalDc: {
    env: "PARLEY_MESSAGES_CQL_LOCAL_DC",
    schema: z.string().min(1).default("datacenter1"),
    help: "The data centre whose nodes serve this process's history queries (LOCAL_QUORUM is counted there).",
  },
  cqlKeyspace: {
    env: "PARLEY_MESSAGES_CQL_KEYSPACE",
    schema: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,47}$/, "must be a lower-case CQL identifier")
      .default("parley_messages"),
    help: "Keyspace of the history tables; created with the replication below when missing.",
  },
  cqlReplication: {
    env: "PARLEY_MESSAGES_CQL_REPLICATION",
    schema: z
      .string()
      .default("1")
      .transform((value, ctx) => {
        const parsed = parseReplication(value);
        if (typeof parsed !== "string") return parsed;
        ctx.addIssue({ code: "custom", message: parsed });
        return z.NEVER;
      }),
    help: "Replication of a keyspace Parley creates: a number for SimpleStrategy (tests), or dc:n,dc:n for NetworkTopologyStrategy (production, e.g. dc1:3).",
  },
  cqlBucketDays: {
    env: "PARLEY_MESSAGES_CQL_BUCKET_DAYS",
    schema: positiveInt().max(3650).default(30),
    help: "Time span of one history partition. Fixed once history is written: a keyspace refuses another value.",
  },
  cqlUsername: {
    env: "PARLEY_MESSAGES_CQL_USERNAME",
    schema: z.string().optional(),
    help: "CQL user (PasswordAuthenticator); unset: no authentication.",
  },
  cqlPassword: {
    env: "PARLEY_MESSAGES_CQL_PASSWORD",
    schema: z.string().optional(),
    help: "Password of the CQL user.",
  },
  cqlRequestTimeoutMs: {
    env: "PARLEY_MESSAGES_CQL_REQUEST_TIMEOUT_MS",
    schema: positiveInt().default(5000),
    help: "How long a history query waits for a node before it fails (and an idempotent one is retried on another).",
  },
});

export type MessagesConfig = ReturnType<typeof messagesConfig.load>;

/** Page sizes of the history reads. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
export const MAX_CLIENT_MESSAGE_ID_LENGTH = 128;
