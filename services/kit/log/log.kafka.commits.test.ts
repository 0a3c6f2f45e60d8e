import { randomUUID } from "node:crypto";
import type { Consumer } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { eventually } from "../testing/eventually.js";
import { createKafka } from "./log.kafka.client.js";
import { OffsetCommits } from "./log.kafka.commits.js";
import { testBrokers, testKafkaAdmin } from "./log.kafka.testing.js";

/** OffsetCommits against the run's broker: what Kafka holds as the group's offsets, and when. */
describe("a consumer's coalesced offset commits", () => {
  const admin = testKafkaAdmin();
  const topic = `test.${randomUUID()}.commits`;
  const kafka = createKafka({
    brokers: testBrokers(),
    clientId: "commits-test",
    purpose: "admin",
    logger: createLogger({ level: "silent" }),
  });
  const cleanups: (() => Promise<unknown>)[] = [];
  const failures: unknown[] = [];

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
    // Records up to every offset the tests mark: a running consumer that reads a committed offset
    // past the end of its partition resets it to the earliest (kafkajs commits -2 on "offset out
    // of range"), which raced the rebalance test's read of what was committed.
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [0, 1].flatMap((partition) =>
        Array.from({ length: 8 }, (_, i) => ({ partition, value: `record ${i}` })),
      ),
    });
    await producer.disconnect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    failures.length = 0;
  });
  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  /** A running member of `group`; resolves with it and a wait for its next join. */
  async function member(group: string) {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 });
    let joins: (() => void)[] = [];
    const assigned: number[][] = [];
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      assigned.push(payload.memberAssignment[topic] ?? []);
      for (const resolve of joins) resolve();
      joins = [];
    });
    const joined = () =>
      new Promise<void>((resolve) => {
        joins.push(resolve);
      });
    const first = joined();
    await consumer.connect();
    cleanups.push(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: async () => {} });
    await first;
    return { consumer, joined, assigned };
  }

  const committed = async (group: string) => {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map((offsets?.partitions ?? []).map((p) => [p.partition, p.offset]));
  };

  const commitsOf = (consumer: Consumer, intervalMs: number) => {
    const commits = new OffsetCommits(consumer, topic, (err) => failures.push(err), intervalMs);
    cleanups.push(() => commits.close());
    return commits;
  };

  it("holds marks until flushed, then commits the latest per partition in one go", async () => {
    const group = `g.${randomUUID()}`;
    const { consumer } = await member(group);
    const commits = commitsOf(consumer, 60_000);
    commits.mark(0, 3n);
    commits.mark(0, 7n);
    commits.mark(1, 2n);
    expect(await committed(group)).toEqual(
      new Map([
        [0, "-1"],
        [1, "-1"],
      ]),
    );
    await commits.flush();
    expect(await committed(group)).toEqual(
      new Map([
        [0, "7"],
        [1, "2"],
      ]),
    );
    expect(failures).toEqual([]);
  }, 60_000);

  it("commits by itself once the interval has passed", async () => {
    const group = `g.${randomUUID()}`;
    const { consumer } = await member(group);
    const commits = commitsOf(consumer, 100);
    commits.mark(1, 5n);
    await eventually(async () => (await committed(group)).get(1) === "5", 10_000);
    expect(failures).toEqual([]);
  }, 60_000);

  it("after a rebalance commits only the partitions the member still has", async () => {
    const group = `g.${randomUUID()}`;
    const first = await member(group);
    expect(first.assigned.at(-1)?.sort()).toEqual([0, 1]);
    const commits = commitsOf(first.consumer, 60_000);
    commits.mark(0, 4n);
    commits.mark(1, 6n);

    const rejoined = first.joined();
    const second = await member(group);
    await rejoined;
    const kept = first.assigned.at(-1) ?? [];
    expect(kept).toHaveLength(1);
    expect(second.assigned.at(-1)).not.toContain(kept[0]);

    await commits.flush();
    const offsets = await committed(group);
    const lost = kept[0] === 0 ? 1 : 0;
    expect(offsets.get(kept[0] as number)).toBe(kept[0] === 0 ? "4" : "6");
    expect(offsets.get(lost)).toBe("-1");
    expect(failures).toEqual([]);
  }, 60_000);
});
