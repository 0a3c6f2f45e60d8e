import { randomUUID } from "node:crypto";
import type { Admin } from "kafkajs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import type { LogRecord } from "./log.js";
import { createKafka } from "./log.kafka.client.js";
import type { KafkaLog } from "./log.kafka.js";
import { GroupMembers } from "./log.kafka.member.js";
import { TailReader } from "./log.kafka.tail.js";
import {
  deleteTestTopics,
  openTestKafkaLog,
  testBrokers,
  testKafkaAdmin,
  testKafkaOptions,
} from "./log.kafka.testing.js";

const text = (records: LogRecord[]) => records.map((r) => Buffer.from(r.value).toString("utf8"));

describe("the Kafka tail reader", () => {
  const options = testKafkaOptions();
  const logger = createLogger({ level: "silent" });
  let log: KafkaLog;
  let admin: Admin;
  let tail: TailReader | undefined;

  beforeEach(async () => {
    log = await openTestKafkaLog(options);
    admin = testKafkaAdmin();
    await admin.connect();
  });
  afterEach(async () => {
    await tail?.stop();
    await admin.disconnect();
    await log.close();
    await deleteTestTopics(options.topicPrefix);
  });

  it("keeps a held window's records when a later read moves past its start, until it is released", async () => {
    const topic = `tail.${randomUUID()}`;
    const group = `g.${randomUUID()}`;
    await log.append(topic, [
      { key: "k", value: Buffer.from("1") },
      { key: "k", value: Buffer.from("2") },
    ]);
    const kafka = createKafka({ brokers: testBrokers(), clientId: "tail-test", logger, purpose: "admin" });
    tail = await TailReader.start(
      kafka,
      admin,
      {
        topic,
        topicName: `${options.topicPrefix}${topic}`,
        groupId: `${options.topicPrefix}${group}`,
        tailGroupPrefix: `${options.topicPrefix}tail.`,
        sessionTimeoutMs: 6000,
        startTimeoutMs: 60_000,
      },
      new GroupMembers(),
      logger,
    );
    const deadline = () => Date.now() + 10_000;
    // Nothing committed yet: the window starts before both records.
    const window = tail.hold();

    // The group consumes and commits both; a plain read then finds nothing uncommitted and drops
    // what it keeps below the new committed offset — except what the held window needs.
    let consumed = () => {};
    const both = new Promise<void>((resolve) => {
      consumed = resolve;
    });
    const seen: LogRecord[] = [];
    const subscription = await log.subscribe({
      group,
      topic,
      handler: async (records) => {
        seen.push(...records);
        if (seen.length >= 2) consumed();
      },
    });
    await both;
    await subscription.stop();
    expect(text(await tail.read("k", undefined, deadline()))).toEqual([]);

    expect(text(await tail.readWindow(window, "k", undefined, deadline()))).toEqual(["1", "2"]);

    tail.release(window);
    expect(text(await tail.read("k", undefined, deadline()))).toEqual([]);
    // Released and pruned: the window's records are gone.
    expect(text(await tail.readWindow(window, "k", undefined, deadline()))).toEqual([]);
  });
});
