/**
 * The all-in-one history's write on PGlite, two ways: the shipped statement (SqlHistoryStore.write,
 * eleven arrays through unnest) against the VALUES list it replaced (a new statement for every
 * batch size). Each way has a fresh database in PGlite's worker thread, as the all-in-one runs it,
 * with the messages migrations and 18,000 rows in first; then rounds alternate, each writing
 * batches of 12 direct messages of 1 KB (the persister's batches at ~2,000 sends/s). Prints µs of
 * wall time and of process CPU per batch.
 *   npx tsx bench/history-insert.ts [batches per round=400] [rounds=3]
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageRecord } from "../services/gen/grpc/parley/internal/v1/records.js";
import type { SqlDatabase } from "../services/kit/sql/database.js";
import { openPglite } from "../services/kit/sql/database.pglite.js";
import { migrate } from "../services/kit/sql/migrations.js";
import { sealedRecord } from "../services/messages/fixtures.js";
import { MIGRATIONS_DIR, SqlHistoryStore } from "../services/messages/history.sql.js";
import { encodeAttachments, newMessageId } from "../services/messages/records.js";

const perRound = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 3);
const BATCH = 12;
const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);

function batch(): MessageRecord[] {
  return Array.from({ length: BATCH }, () => {
    const [a, b] = [
      users[Math.floor(Math.random() * users.length)],
      users[Math.floor(Math.random() * users.length)],
    ];
    const record = sealedRecord(newMessageId(), {
      conversationId: `d:${[a, b].sort().join(":")}`,
      senderId: a as string,
      recipientId: b as string,
    });
    return { ...record, ciphertext: randomBytes(1016), wrappedKey: randomBytes(60) };
  });
}

/** The statement before: one VALUES row of eleven parameters per record. */
async function writeAsValues(db: SqlDatabase, records: MessageRecord[]): Promise<void> {
  const params: unknown[] = [];
  const rows = records.map((r) => {
    const n = params.length;
    params.push(r.messageId, r.conversationId, r.senderId, r.recipientId, r.groupId, r.sentAt);
    params.push(r.clientMessageId, r.ciphertext, r.nonce, r.wrappedKey, encodeAttachments(r.attachments));
    return `(${Array.from({ length: 11 }, (_, i) => `$${n + i + 1}`).join(", ")})`;
  });
  await db.query(
    `INSERT INTO messages (message_id, conversation_id, sender_id, recipient_id, group_id, sent_at,
       client_message_id, ciphertext, nonce, wrapped_key, attachments)
     VALUES ${rows.join(", ")} ON CONFLICT (message_id) DO NOTHING`,
    params,
  );
}

const root = mkdtempSync(join(tmpdir(), "parley-bench-history-insert-"));
const opened: SqlDatabase[] = [];
try {
  const open = async (name: string) => {
    const db = await openPglite(join(root, name), "messages", undefined, { thread: true });
    opened.push(db);
    await migrate(db, MIGRATIONS_DIR);
    return db;
  };
  const unnestDb = await open("unnest");
  const valuesDb = await open("values");
  const store = new SqlHistoryStore(unnestDb);
  const ways: Record<string, (records: MessageRecord[]) => Promise<void>> = {
    "unnest (shipped)": (records) => store.write(records),
    "VALUES list (before)": (records) => writeAsValues(valuesDb, records),
  };
  for (const write of Object.values(ways)) for (let i = 0; i < 1_500; i++) await write(batch());
  for (let round = 1; round <= rounds; round++) {
    for (const [name, write] of Object.entries(ways)) {
      const batches = Array.from({ length: perRound }, batch);
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (const records of batches) await write(records);
      const wall = ((performance.now() - started) * 1000) / perRound;
      const used = process.cpuUsage(cpu);
      const cpuPer = (used.user + used.system) / perRound;
      console.log(
        `round ${round} ${name.padEnd(22)} ${wall.toFixed(0)} µs wall, ${cpuPer.toFixed(0)} µs CPU per batch of ${BATCH}`,
      );
    }
  }
} finally {
  for (const db of opened) await db.close();
  rmSync(root, { recursive: true, force: true });
}
