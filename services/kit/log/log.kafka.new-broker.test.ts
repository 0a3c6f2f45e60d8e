import type { Admin } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateServer, startPrivateKafka } from "../../../test/private-servers.js";
import { eventually } from "../testing/eventually.js";
import { type LogRecord, TOPICS } from "./log.js";
import { KafkaLog } from "./log.kafka.js";
import { testKafkaAdmin, testKafkaOptions } from "./log.kafka.testing.js";

/**
 * A broker of this file's own, freshly formatted and NOT warmed up: its group coordinator does not
 * exist until the first group join creates __consumer_offsets, and several processes create the
 * same topics at once. This is what an operator installing Parley on a new Kafka starts on.
 */
let kafka: PrivateServer;
let admin: Admin;
const logs: KafkaLog[] = [];

beforeAll(async () => {
  kafka = await startPrivateKafka({ warmUp: false });
  admin = testKafkaAdmin([kafka.address]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(logs.map((log) => log.close()));
  await admin?.disconnect();
  await kafka?.remove();
}, 60_000);

/** The mesh's consumers: the persister, delivery's three groups in two replicas, and groups (producer only). */
const PROCESSES: { clientId: string; subscriptions: { group: string; topic: string }[] }[] = [
  { clientId: "messages", subscriptions: [{ group: "parley.persister", topic: TOPICS.messages }] },
  { clientId: "groups", subscriptions: [] },
  ...["delivery-a", "delivery-b"].map((clientId) => ({
    clientId,
    subscriptions: (["messages", "groups", "receipts"] as const).map((t) => ({
      group: `parley.delivery.${t}`,
      topic: TOPICS[t],
    })),
  })),
];

/** Rejects naming what is still pending when `work` has not all settled within `ms`. */
async function within<T>(ms: number, work: Map<string, Promise<T>>): Promise<void> {
  const pending = new Set(work.keys());
  for (const [name, promise] of work) promise.finally(() => pending.delete(name)).catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still starting after ${ms} ms: ${[...pending].join(", ")}`)),
      ms,
    );
  });
  try {
    await Promise.race([Promise.all(work.values()), expired]);
  } finally {
    clearTimeout(timer);
  }
}

describe("starting on a freshly formatted Kafka broker", () => {
  it("opens every process's log and makes every consumer a member of its group within a bounded time, then consumes", async () => {
    const base = testKafkaOptions({ brokers: [kafka.address] });
    const seen = new Map<string, LogRecord[]>();
    /** Members whose subscribe resolved while Kafka did not list them in their group. */
    const notMembers: string[] = [];
    const starting = new Map<string, Promise<unknown>>();

    for (const { clientId, subscriptions } of PROCESSES) {
      const opened = KafkaLog.open({ ...base, clientId });
      starting.set(`${clientId} open`, opened);
      opened.then((log) => logs.push(log)).catch(() => {});
      // Each process subscribes all its groups at once, as soon as its log is open (as delivery does).
      for (const { group, topic } of subscriptions) {
        const name = `${clientId} ${group}`;
        seen.set(name, []);
        const subscribed = opened.then(async (log) => {
          const subscription = await log.subscribe({
            group,
            topic,
            handler: async (records) => {
              seen.get(name)?.push(...records);
            },
          });
          // Subscribed means consuming: this member is in its group right now.
          const [described] = (await admin.describeGroups([`${base.topicPrefix}${group}`])).groups;
          if (!described?.members.some((m) => m.clientId === clientId)) {
            notMembers.push(
              `${name} (group ${described?.state}: ${described?.members.map((m) => m.clientId)})`,
            );
          }
          return subscription;
        });
        starting.set(name, subscribed);
      }
    }

    const started = performance.now();
    await within(60_000, starting);
    console.log(
      `every log open and every consumer a member after ${Math.round(performance.now() - started)} ms`,
    );
    expect(notMembers, "subscriptions that resolved before their member joined").toEqual([]);

    const writer = logs[0] as KafkaLog;
    for (const t of ["messages", "groups", "receipts"] as const) {
      await writer.append(TOPICS[t], [{ key: `first-${t}`, value: Buffer.from(t) }]);
    }
    // Each group gets its record; the two delivery replicas share their groups' partitions.
    const received = (group: string) =>
      [...seen]
        .filter(([name]) => name.endsWith(` ${group}`))
        .flatMap(([, records]) => records.map((r) => r.key));
    await eventually(
      async () =>
        received("parley.persister").includes("first-messages") &&
        received("parley.delivery.messages").includes("first-messages") &&
        received("parley.delivery.groups").includes("first-groups") &&
        received("parley.delivery.receipts").includes("first-receipts"),
      30_000,
    );
    // The tail reader (its own group) starts on the same broker; a read may fail while it joins.
    await eventually(
      async () =>
        (await writer.readUncommitted(TOPICS.messages, "parley.nobody").catch(() => [])).some(
          (r) => r.key === "first-messages",
        ),
      30_000,
    );
  }, 120_000);
});

/**
 * A broker whose group coordinator never becomes available: __consumer_offsets needs 3 replicas
 * and there is one broker, as on a new cluster with fewer brokers than
 * offsets.topic.replication.factor (or a coordinator that takes very long to load). kafkajs gives
 * up on such a consumer after ~8 s ("Failed to find group coordinator") and never restarts it.
 */
describe("starting on a broker whose group coordinator never becomes available", () => {
  let broken: PrivateServer;
  beforeAll(async () => {
    broken = await startPrivateKafka({
      warmUp: false,
      serverProperties: { "offsets.topic.replication.factor": "3" },
    });
  }, 120_000);
  afterAll(async () => {
    await broken?.remove();
  }, 60_000);

  it("keeps trying, names the group on /readyz meanwhile, and fails the start at the bound with the reason", async () => {
    const log = await KafkaLog.open(
      testKafkaOptions({ brokers: [broken.address], consumerStartTimeoutMs: 15_000 }),
    );
    try {
      const started = performance.now();
      const subscribing = log.subscribe({
        group: "parley.delivery.messages",
        topic: TOPICS.messages,
        handler: async () => {},
      });
      subscribing.catch(() => {});
      await eventually(
        async () => log.problems().some((p) => p.includes("parley.delivery.messages not joined")),
        14_000,
      );
      const failure = await subscribing.then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      const ms = performance.now() - started;
      expect(failure?.message).toMatch(
        /^Kafka: consumer group \S+parley\.delivery\.messages did not join within 15000 ms$/,
      );
      expect((failure?.cause as Error | undefined)?.message).toBe("Failed to find group coordinator");
      // Past kafkajs's ~8 s, so it was retried after kafkajs gave up, until the bound and no longer.
      expect(ms).toBeGreaterThanOrEqual(14_900);
      expect(ms).toBeLessThan(19_000);
      expect(log.problems()).toEqual([]);
    } finally {
      await log.close();
    }
  }, 60_000);
});
