import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { migrate } from "../kit/sql/migrations.js";
import { MIGRATIONS_DIR } from "./history.sql.js";
import { ClientMessageIds } from "./idempotency.js";
import { newMessageId, timeOfMessageId } from "./records.js";

const BACKENDS = [
  {
    backend: "PGlite",
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "parley-idempotency-"));
      const db = await openPglite(join(dir, "messages"), "messages", process.env.PARLEY_PGLITE_TEMPLATE);
      return {
        db,
        async close() {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  { backend: "PostgreSQL", open: () => openFreshPostgres("messages") },
];

function attempt(senderId: string, clientMessageId: string): MessageRecord {
  const messageId = newMessageId();
  return {
    messageId,
    conversationId: "d:alice:bob",
    senderId,
    recipientId: "bob",
    groupId: "",
    sentAt: timeOfMessageId(messageId),
    clientMessageId,
    ciphertext: Buffer.from(`sealed ${messageId}`),
    nonce: Buffer.alloc(12, 1),
    wrappedKey: Buffer.from("wrapped"),
    attachments: [],
  };
}

/** The database, counting the statements that contain `word`. */
function counting(db: SqlDatabase, word: string): { db: SqlDatabase; count: number } {
  const counted = {
    count: 0,
    db: {
      query: (sql, params) => {
        if (sql.includes(word)) counted.count++;
        return db.query(sql, params);
      },
      exec: (sql) => db.exec(sql),
      transaction: (fn) => db.transaction(fn),
      close: () => db.close(),
    } satisfies SqlDatabase,
  };
  return counted;
}

describe.each(BACKENDS)("client message ids ($backend)", ({ open }) => {
  let database: { db: SqlDatabase; close(): Promise<void> };
  let ids: ClientMessageIds;
  beforeAll(async () => {
    database = await open();
    await migrate(database.db, MIGRATIONS_DIR);
    ids = new ClientMessageIds(database.db);
  });
  afterAll(() => database?.close());

  it("gives a retry the first send's record, not appended until marked", async () => {
    const first = attempt("alice", "c-1");
    expect(await ids.claim(first)).toEqual({ claimed: true });
    const retry = await ids.claim(attempt("alice", "c-1"));
    expect(retry).toEqual({ claimed: false, record: first, appended: false });
    await ids.markAppended("alice", "c-1");
    expect(await ids.claim(attempt("alice", "c-1"))).toMatchObject({ appended: true, record: first });
  });

  it("marks sends confirmed in the same turn with one statement, each only its own", async () => {
    const updates = counting(database.db, "UPDATE");
    const batched = new ClientMessageIds(updates.db);
    const records = ["b-1", "b-2", "b-3"].map((id) => attempt("dave", id));
    for (const r of records) expect(await batched.claim(r)).toEqual({ claimed: true });
    expect(await batched.claim(attempt("dave", "b-unmarked"))).toEqual({ claimed: true });
    await Promise.all([
      batched.markAppended("dave", "b-1"),
      batched.markAppended("dave", "b-2"),
      batched.markAppended("dave", "b-3"),
      batched.markAppended("dave", "never-claimed"),
    ]);
    expect(updates.count).toBe(1);
    for (const r of records) {
      expect(await batched.claim(attempt("dave", r.clientMessageId))).toMatchObject({
        appended: true,
        record: r,
      });
    }
    expect(await batched.claim(attempt("dave", "b-unmarked"))).toMatchObject({ appended: false });
  });

  it("claims sends made in the same turn with one INSERT, each only its own", async () => {
    const inserts = counting(database.db, "INSERT");
    const batched = new ClientMessageIds(inserts.db);
    const taken = attempt("erin", "t-taken");
    expect(await batched.claim(taken)).toEqual({ claimed: true });
    inserts.count = 0;
    const fresh = ["t-1", "t-2", "t-3"].map((id) => attempt("erin", id));
    const claims = await Promise.all([...fresh, attempt("erin", "t-taken")].map((r) => batched.claim(r)));
    expect(inserts.count).toBe(1);
    expect(claims).toEqual([
      { claimed: true },
      { claimed: true },
      { claimed: true },
      { claimed: false, record: taken, appended: false },
    ]);
    for (const r of fresh) {
      expect(await batched.claim(attempt("erin", r.clientMessageId))).toMatchObject({ record: r });
    }
  });

  it("scopes a client message id to its sender", async () => {
    expect(await ids.claim(attempt("alice", "c-shared"))).toEqual({ claimed: true });
    expect(await ids.claim(attempt("carol", "c-shared"))).toEqual({ claimed: true });
  });

  it("lets exactly one of many concurrent sends of one id claim it; the rest get its record", async () => {
    const attempts = Array.from({ length: 10 }, () => attempt("alice", "c-race"));
    const claims = await Promise.all(attempts.map((a) => ids.claim(a)));
    const winners = claims.flatMap((c, i) => (c.claimed ? [attempts[i]] : []));
    expect(winners).toHaveLength(1);
    for (const c of claims) if (!c.claimed) expect(c.record).toEqual(winners[0]);
  });
});
