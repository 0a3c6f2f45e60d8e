import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import type { Subscription } from "../kit/log/log.js";
import { TOPICS } from "../kit/log/log.js";
import { observed, openTestStores, plainRecord, silentLogger, type TestStores } from "./fixtures.js";
import { SqlHistoryStore } from "./history.sql.js";
import { MESSAGES_DLQ, PERSISTER_GROUP, startPersister } from "./persister.js";

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
    const records = [plainRecord(), plainRecord(), plainRecord("g:g1")].map((r, i) =>
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
    const good = plainRecord();
    const notSealed = { ...plainRecord(), ciphertext: Buffer.alloc(0) };
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
    const records = [plainRecord(), plainRecord()];
    await history.write(records.slice(0, 1));
    await append(records);
    const watch = observed(history);
    const done = watch.written(records[1]?.messageId as string);
    persister = await startPersister({ log: stores.log, history: watch.store, logger: silentLogger });
    await done;
    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual([...records].reverse());
  });
});
