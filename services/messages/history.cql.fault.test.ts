import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserRef } from "../gen/grpc/parley/internal/v1/directory.js";
import { DomainError } from "../kit/errors.js";
import { MemoryRateLimiter } from "../kit/limiter/limiter.memory.js";
import { TOPICS } from "../kit/log/log.js";
import { directConversationId } from "./conversations.js";
import { Envelope } from "./envelope.js";
import {
  messageIdAt,
  openTestStores,
  sealedRecord,
  silentLogger,
  type TestStores,
  testDataKeys,
} from "./fixtures.js";
import { dropKeyspace, testCqlConfig } from "./history.cql.fixtures.js";
import { CqlHistoryStore } from "./history.cql.js";
import { ClientMessageIds } from "./idempotency.js";
import { CachedDirectory } from "./participants.js";
import { PERSISTER_GROUP, startPersister } from "./persister.js";
import { MessageReader } from "./reading.js";
import { MessageSender } from "./sending.js";

const cassandraScript = join(import.meta.dirname, "..", "..", "deps", "cassandra.sh");
const run = promisify(execFile);
const cassandra = (command: "stop" | "start") => run("bash", [cassandraScript, command]);

const alice = { userId: "u-alice", username: "alice" };
const bob = { userId: "u-bob", username: "bob" };
const users: UserRef[] = [alice, bob];
const REQUEST_TIMEOUT_MS = 2000;

interface Outcome {
  ok: boolean;
  ms: number;
  at: number;
}

/**
 * Repeats an operation until stopped, recording each outcome, and resolves `until(predicate)`
 * promises as soon as the outcomes satisfy them. The pause between operations only paces the load.
 */
function loadLoop<T>(operation: () => Promise<T>, onSuccess: (value: T) => void = () => {}) {
  const outcomes: Outcome[] = [];
  const waiters: { test: () => boolean; resolve: () => void }[] = [];
  let running = true;
  const settle = () => {
    for (const w of [...waiters]) if (w.test()) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  };
  const done = (async () => {
    while (running) {
      const started = performance.now();
      try {
        onSuccess(await operation());
        outcomes.push({ ok: true, ms: performance.now() - started, at: Date.now() });
      } catch {
        outcomes.push({ ok: false, ms: performance.now() - started, at: Date.now() });
      }
      settle();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    outcomes,
    count: (ok: boolean, since = 0) => outcomes.filter((o) => o.ok === ok && o.at >= since).length,
    until(test: () => boolean): Promise<void> {
      return test() ? Promise.resolve() : new Promise((resolve) => waiters.push({ test, resolve }));
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

describe("CQL history while Cassandra restarts", () => {
  const config = testCqlConfig({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  let stores: TestStores;
  let history: CqlHistoryStore;

  beforeAll(async () => {
    stores = await openTestStores();
    history = await CqlHistoryStore.open(config);
  });
  afterAll(async () => {
    await history?.close();
    await stores?.close();
    await dropKeyspace(config);
  });

  it("fails writes and reads fast while it is down, serves the log tail, and loses nothing acknowledged", async () => {
    const persister = await startPersister({ log: stores.log, history, logger: silentLogger });
    const directory = new CachedDirectory(
      {
        resolveUsernames: async (names) => users.filter((u) => names.includes(u.username)),
        getUsers: async (ids) => users.filter((u) => ids.includes(u.userId)),
      },
      60_000,
    );
    const membership = { check: async () => ({ groupExists: false, isMember: false }) };
    const envelope = new Envelope(testDataKeys(), { cacheMs: 60_000 });
    const messageLog = async () => stores.log;
    const sender = new MessageSender({
      directory,
      membership,
      envelope,
      messageLog,
      clientMessageIds: new ClientMessageIds(stores.db),
      limiter: new MemoryRateLimiter({ limit: 1_000_000, windowSeconds: 60 }),
      maxContentBytes: 1024,
      logger: silentLogger,
    });
    const reader = new MessageReader({ history, messageLog, envelope, directory, membership });
    const readDirect = (limit: number, before = "") =>
      reader.listDirect(alice, { recipientUsername: "bob", limit, before });

    // Sends go through the log and the persister; writes and reads hit the store directly.
    const conversation = { conversationId: "d:x:y", senderId: "x", recipientId: "y" };
    const sent: string[] = [];
    const written: string[] = [];
    let sends = loadLoop(
      () => sender.sendDirect(alice, { recipientUsername: "bob", content: "hello", clientMessageId: "" }),
      (message) => sent.push(message.messageId),
    );
    const writes = loadLoop(
      async () => {
        const record = sealedRecord(messageIdAt(Date.now()), conversation);
        await history.write([record]);
        return record.messageId;
      },
      (id) => written.push(id),
    );
    const reads = loadLoop(() => history.conversationPage(conversation.conversationId, { limit: 20 }));

    let stopped = false;
    try {
      await Promise.all([sends.until(() => sent.length >= 10), writes.until(() => written.length >= 10)]);
      await cassandra("stop");
      stopped = true;
      const down = Date.now();

      await Promise.all([
        writes.until(() => writes.count(false, down) >= 10),
        reads.until(() => reads.count(false, down) >= 10),
        sends.until(() => sent.length >= 20 && sends.count(true, down) >= 8),
      ]);
      await sends.stop();
      const duringOutage = writes.outcomes.filter((o) => o.at >= down);
      expect(writes.count(true, down), "no write succeeds while Cassandra is down").toBe(0);
      expect(Math.max(...duringOutage.map((o) => o.ms))).toBeLessThan(REQUEST_TIMEOUT_MS + 1000);
      expect(Math.max(...reads.outcomes.filter((o) => o.at >= down).map((o) => o.ms))).toBeLessThan(
        REQUEST_TIMEOUT_MS + 1000,
      );

      // The sends since the outage are acknowledged and in the log tail: conversation reads serve
      // them, newest first, each page with a cursor; older than the tail, the read is unavailable.
      const tail = await stores.log.readUncommitted(TOPICS.messages, PERSISTER_GROUP);
      expect(tail.length).toBeGreaterThanOrEqual(8);
      const served: string[] = [];
      let cursor = "";
      let refusal: unknown;
      while (refusal === undefined) {
        try {
          const page = await readDirect(3, cursor);
          expect(page.nextCursor).toBe(page.messages[0]?.messageId);
          served.unshift(...page.messages.map((m) => m.messageId));
          cursor = page.nextCursor;
        } catch (err) {
          refusal = err;
        }
      }
      expect(refusal).toBeInstanceOf(DomainError);
      expect((refusal as DomainError).code).toBe("unavailable");
      expect(served.length).toBeGreaterThanOrEqual(8);
      expect(served).toEqual(sent.slice(-served.length));
      await expect(
        reader.listDirect(alice, { recipientUsername: "", limit: 5, before: "" }),
      ).rejects.toMatchObject({
        code: "unavailable",
      });

      sends = loadLoop(
        () => sender.sendDirect(alice, { recipientUsername: "bob", content: "again", clientMessageId: "" }),
        (message) => sent.push(message.messageId),
      );
      await cassandra("start");
      stopped = false;
      const up = Date.now();
      await Promise.all([
        writes.until(() => writes.count(true, up) >= 10),
        reads.until(() => reads.count(true, up) >= 10),
        sends.until(() => sends.count(true, up) >= 10),
      ]);
    } finally {
      await Promise.all([sends.stop(), writes.stop(), reads.stop()]);
      if (stopped) await cassandra("start");
    }

    // Everything acknowledged is in history once the persister has caught up: no gap, no repeat.
    await expect
      .poll(async () => (await stores.log.readUncommitted(TOPICS.messages, PERSISTER_GROUP)).length, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(0);
    await persister.stop();
    const stored = await walkBack((before) =>
      history.conversationPage(conversation.conversationId, { limit: 50, ...before }),
    );
    expect(new Set(stored).size).toBe(stored.length);
    expect(stored.filter((id) => written.includes(id))).toEqual([...written].reverse());
    const persisted = await walkBack((before) =>
      history.conversationPage(directConversationId(alice.userId, bob.userId), { limit: 50, ...before }),
    );
    expect(persisted).toEqual([...sent].reverse());
  }, 240_000);
});

async function walkBack(read: (before: { before?: string }) => Promise<{ messageId: string }[]>) {
  const all: string[] = [];
  for (;;) {
    const last = all.at(-1);
    const page = await read(last === undefined ? {} : { before: last });
    if (page.length === 0) return all;
    all.push(...page.map((r) => r.messageId));
  }
}
