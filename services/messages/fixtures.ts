// Test fixtures (imported by *.test.ts only): real stores in temporary folders and the real
// data-key logic of the crypto service, without its transport.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataKeyHandlers } from "../crypto/handlers.js";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { EmbeddedLog } from "../kit/log/log.embedded.js";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import type { DataKeys } from "./envelope.js";
import type { HistoryStore } from "./history.js";
import { MIGRATIONS_DIR } from "./history.sql.js";
import { newMessageId, timeOfMessageId } from "./records.js";

export const silentLogger = createLogger({ level: "silent" });

export interface TestStores {
  /** The messages service's database, migrated. */
  db: SqlDatabase;
  log: EmbeddedLog;
  close(): Promise<void>;
}

export async function openTestStores(): Promise<TestStores> {
  const root = mkdtempSync(join(tmpdir(), "parley-messages-"));
  const [db, logDb] = await Promise.all([
    openPglite(join(root, "messages"), "messages", process.env.PARLEY_PGLITE_TEMPLATE),
    openPglite(join(root, "log"), "log", process.env.PARLEY_PGLITE_TEMPLATE),
  ]);
  await migrate(db, MIGRATIONS_DIR);
  const log = await EmbeddedLog.open(logDb, silentLogger);
  return {
    db,
    log,
    async close() {
      await log.close();
      await Promise.all([db.close(), logDb.close()]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Crypto's data-key handlers under a fresh KEK, counting the calls made to them. */
export function testDataKeys(): DataKeys & { calls: { generate: number; unwrap: number } } {
  const handlers = dataKeyHandlers(randomBytes(32));
  const calls = { generate: 0, unwrap: 0 };
  return {
    calls,
    async generate(context) {
      calls.generate++;
      return handlers.generateDataKey({ context });
    },
    async unwrap(wrappedKey, context) {
      calls.unwrap++;
      return (await handlers.unwrapDataKey({ wrappedKey, context })).plaintextKey;
    },
  };
}

/** A UUIDv7 message id carrying the given send time (random below it). */
export function messageIdAt(ms: number): string {
  const hex = [...(ms.toString(16).padStart(12, "0") + randomBytes(10).toString("hex"))];
  hex[12] = "7";
  hex[16] = (8 + (Number.parseInt(hex[16] as string, 16) & 3)).toString(16);
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A sealed-looking record (history never opens content) of a direct or group conversation. */
export function sealedRecord(
  messageId: string,
  people: { conversationId: string; senderId: string; recipientId?: string; groupId?: string },
): MessageRecord {
  return {
    messageId,
    conversationId: people.conversationId,
    senderId: people.senderId,
    recipientId: people.recipientId ?? "",
    groupId: people.groupId ?? "",
    sentAt: timeOfMessageId(messageId),
    clientMessageId: `c-${messageId}`,
    ciphertext: randomBytes(48),
    nonce: randomBytes(12),
    wrappedKey: Buffer.from(`wrapped ${people.conversationId}`),
    attachments: [],
  };
}

/** A record as the log carries it, with placeholder ciphertext, for tests of what moves records. */
export function plainRecord(conversationId = "d:alice:bob"): MessageRecord {
  const messageId = newMessageId();
  return {
    messageId,
    conversationId,
    senderId: "alice",
    recipientId: "bob",
    groupId: "",
    sentAt: timeOfMessageId(messageId),
    clientMessageId: "",
    ciphertext: Buffer.from("sealed"),
    nonce: Buffer.alloc(12, 1),
    wrappedKey: Buffer.from("wrapped"),
    attachments: [],
  };
}

/** The real store, telling the test when a given message has been written. */
export function observed(store: HistoryStore) {
  const waiting = new Map<string, () => void>();
  return {
    store: {
      ...store,
      conversationPage: store.conversationPage.bind(store),
      directPage: store.directPage.bind(store),
      async write(records: MessageRecord[]) {
        await store.write(records);
        for (const r of records) waiting.get(r.messageId)?.();
      },
    } satisfies HistoryStore,
    written: (messageId: string) => new Promise<void>((resolve) => waiting.set(messageId, resolve)),
  };
}
