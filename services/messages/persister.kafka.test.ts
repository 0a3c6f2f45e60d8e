import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import { type Subscription, TOPICS } from "../kit/log/log.js";
import type { KafkaLog } from "../kit/log/log.kafka.js";
import { deleteTestTopics, openTestKafkaLog, testKafkaOptions } from "../kit/log/log.kafka.testing.js";
import { observed, openTestStores, plainRecord, silentLogger, type TestStores } from "./fixtures.js";
import { SqlHistoryStore } from "./history.sql.js";
import { MESSAGES_DLQ, PERSISTER_GROUP, startPersister } from "./persister.js";

describe("the persister on Kafka", () => {
  const options = testKafkaOptions();
  let stores: TestStores;
  let history: SqlHistoryStore;
  let log: KafkaLog;
  let persister: Subscription | undefined;

  beforeEach(async () => {
    [stores, log] = await Promise.all([openTestStores(), openTestKafkaLog(options)]);
    history = new SqlHistoryStore(stores.db);
  });
  afterEach(async () => {
    await persister?.stop();
    persister = undefined;
    await log.close();
    await stores.close();
    await deleteTestTopics(options.topicPrefix);
  });

  const append = (records: MessageRecord[]) =>
    log.append(
      TOPICS.messages,
      records.map((r) => ({
        key: r.conversationId,
        value: MessageRecord.encode(r).finish(),
        headers: { "message-id": r.messageId },
      })),
    );

  it("serves acknowledged records from the tail until the persister has written and committed them", async () => {
    const records = [
      plainRecord(),
      { ...plainRecord("g:g1"), recipientId: "", groupId: "g1" },
      plainRecord(),
    ];
    await append(records);
    const tail = await log.readUncommitted(TOPICS.messages, PERSISTER_GROUP, "d:alice:bob");
    expect(tail.map((r) => r.headers["message-id"])).toEqual([records[0]?.messageId, records[2]?.messageId]);

    const watch = observed(history);
    const done = Promise.all(records.map((r) => watch.written(r.messageId)));
    persister = await startPersister({ log, history: watch.store, logger: silentLogger });
    await done;
    await persister.stop();
    persister = undefined;

    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual(
      [records[0], records[2]].reverse(),
    );
    expect(await log.readUncommitted(TOPICS.messages, PERSISTER_GROUP)).toEqual([]);
  });

  it("sends a record that does not decode to the dead-letter topic with a reason, and persists the next one", async () => {
    const good = plainRecord();
    await log.append(TOPICS.messages, [
      { key: "d:alice:bob", value: Buffer.from("definitely not a protobuf"), headers: { "message-id": "x" } },
    ]);
    await append([good]);
    const watch = observed(history);
    const done = watch.written(good.messageId);
    persister = await startPersister({ log, history: watch.store, logger: silentLogger });
    await done;
    await persister.stop();
    persister = undefined;

    expect(await history.conversationPage("d:alice:bob", { limit: 10 })).toEqual([good]);
    const dead = await log.readUncommitted(MESSAGES_DLQ, "nobody");
    expect(dead).toHaveLength(1);
    expect(Buffer.from(dead[0]?.value as Uint8Array).toString()).toBe("definitely not a protobuf");
    expect(dead[0]?.headers.reason).toBeTruthy();
    expect(dead[0]?.headers["message-id"]).toBe("x");
    expect(dead[0]?.headers["source-topic"]).toBe(TOPICS.messages);
    expect(await log.readUncommitted(TOPICS.messages, PERSISTER_GROUP)).toEqual([]);
  });
});
