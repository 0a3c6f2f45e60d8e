import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Subscription } from "../kit/log/log.js";
import { TOPICS } from "../kit/log/log.js";
import { openTestStores, silentLogger, type TestStores } from "./fixtures.js";
import type { HistoryStore } from "./history.js";
import { SqlHistoryStore } from "./history.sql.js";
import { MESSAGES_DLQ, PERSISTER_GROUP, startPersister } from "./persister.js";
import { newMessageId, timeOfMessageId } from "./records.js";

function record(conversationId = "d:alice:bob"): MessageRecord {
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
  };
}

/** The real store, telling the test when a given message has been written. */
function observed(store: HistoryStore) {
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

describe("the persister", () => {
  let stores: TestStores;
  let history: SqlHistoryStore;
  let persister: Subscription | undefined;

  beforeEach(async () => {
    stores = await openTestStores();
    history = new SqlHistoryStore(stores.db);
  });
  afterEach(async () => {
    await persister?.stop();
    persister = undefined;
    await stores.close();
  });

  const append = (records: MessageRecord[]) =>
    stores.log.append(
      TOPICS.messages,
      records.map((r) => ({ key: r.conversationId, value: MessageRecord.encode(r).finish() })),
    );

  it("writes what was appended to history, then commits it", async () => {
    const records = [record(), record(), record("g:g1")].map((r, i) =>
      i === 2 ? { ...r, recipientId: "", groupId: "g1" } : r,
    );
    await append(records);
    const watch = observed(history);
    const done = watch.written(records[2]?.messageId as string);
    persister = await startPersister({ log: stores.log, history: watch.store, logger: silentLogger });
    await done;
    await persister.stop();
    persister = undefined;

    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual(
      records.slice(0, 2).reverse(),
    );
    expect(await history.conversationPage("g:g1", { limit: 10 })).toEqual([records[2]]);
    expect(await stores.log.readUncommitted(TOPICS.messages, PERSISTER_GROUP)).toEqual([]);
  });

  it("sends a record that does not decode to the DLQ with a reason, and persists the next one", async () => {
    const good = record();
    const notSealed = { ...record(), ciphertext: Buffer.alloc(0) };
    await stores.log.append(TOPICS.messages, [
      { key: "d:alice:bob", value: Buffer.from("definitely not a protobuf"), headers: { "message-id": "x" } },
    ]);
    await append([notSealed, good]);
    const watch = observed(history);
    const done = watch.written(good.messageId);
    persister = await startPersister({ log: stores.log, history: watch.store, logger: silentLogger });
    await done;
    await persister.stop();
    persister = undefined;

    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual([good]);
    const dead = await stores.log.readUncommitted(MESSAGES_DLQ, "nobody");
    expect(dead).toHaveLength(2);
    expect(Buffer.from(dead[0]?.value as Uint8Array).toString()).toBe("definitely not a protobuf");
    expect(dead[0]?.headers.reason).toBeTruthy();
    expect(dead[0]?.headers["message-id"]).toBe("x");
    expect(dead[1]?.headers.reason).toBe("content is not sealed");
    expect(await stores.log.readUncommitted(TOPICS.messages, PERSISTER_GROUP)).toEqual([]);
  });

  it("changes nothing when a batch is delivered again", async () => {
    const records = [record(), record()];
    await history.write(records.slice(0, 1));
    await append(records);
    const watch = observed(history);
    const done = watch.written(records[1]?.messageId as string);
    persister = await startPersister({ log: stores.log, history: watch.store, logger: silentLogger });
    await done;
    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual([...records].reverse());
  });
});
