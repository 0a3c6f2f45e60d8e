import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumerDelay } from "../metrics.js";
import type { LogRecord, MessageLog, Subscription } from "./log.js";

/** One implementation of the log role, opened on storage that outlives a close. */
export interface LogUnderTest {
  log: MessageLog;
  /** Closes the log and opens it again on the same storage, as a restarted process would. */
  reopen(): Promise<MessageLog>;
  /** Closes the current log and removes its storage. */
  cleanup(): Promise<void>;
}

const text = (value: Uint8Array) => Buffer.from(value).toString("utf8");
const bytes = (value: string) => Buffer.from(value, "utf8");

/** A handler that collects records and says when it has seen `count` of them. */
function collector(count: number) {
  const seen: LogRecord[] = [];
  let reached: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    reached = resolve;
  });
  return {
    seen,
    done,
    handler: async (records: LogRecord[]) => {
      seen.push(...records);
      if (seen.length >= count) reached();
    },
  };
}

/**
 * The contract of the message-log role. Every implementation (embedded, Kafka) runs it; topics
 * and groups are fresh per test so a shared server needs no cleaning between tests.
 */
export function logContract(name: string, open: () => Promise<LogUnderTest>): void {
  describe(`message log contract: ${name}`, () => {
    let subject: LogUnderTest;
    let log: MessageLog;
    let topic: string;
    const subscriptions: Subscription[] = [];

    const subscribe = async (group: string, handler: (records: LogRecord[]) => Promise<void>) => {
      const subscription = await log.subscribe({ group, topic, handler });
      subscriptions.push(subscription);
      return subscription;
    };
    const appendValues = (key: string, values: string[], headers?: Record<string, string>) =>
      log.append(
        topic,
        values.map((v) => ({ key, value: bytes(v), ...(headers ? { headers } : {}) })),
      );

    beforeEach(async () => {
      subject = await open();
      log = subject.log;
      topic = `contract.${randomUUID()}`;
    });

    afterEach(async () => {
      for (const s of subscriptions.splice(0)) await s.stop();
      await subject.cleanup();
    });

    it("delivers each key's records in the order they were appended, with key, value and headers", async () => {
      const keys = ["alpha", "beta", "gamma"];
      // Three writers at once, each appending its key's records one after another.
      await Promise.all(
        keys.map(async (key) => {
          for (let i = 0; i < 5; i++)
            await appendValues(key, [`${key}-${2 * i}`, `${key}-${2 * i + 1}`], { n: String(i) });
        }),
      );
      const consumer = collector(30);
      await subscribe(`g.${randomUUID()}`, consumer.handler);
      await consumer.done;

      expect(consumer.seen).toHaveLength(30);
      for (const key of keys) {
        const values = consumer.seen.filter((r) => r.key === key).map((r) => text(r.value));
        expect(values).toEqual(Array.from({ length: 10 }, (_, i) => `${key}-${i}`));
      }
      const first = consumer.seen.find((r) => text(r.value) === "beta-2");
      expect(first?.headers.n).toBe("1");
      expect(first?.topic).toBe(topic);
      for (const partition of new Set(consumer.seen.map((r) => r.partition))) {
        const offsets = consumer.seen.filter((r) => r.partition === partition).map((r) => r.offset);
        expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(new Set(offsets).size).toBe(offsets.length);
      }
    });

    it("resolves an append with offsets that increase within a partition", async () => {
      const first = await appendValues("k", ["a", "b"]);
      const second = await appendValues("k", ["c"]);
      const offsets = [...first, ...second].map((r) => r.offset);
      expect(new Set([...first, ...second].map((r) => r.partition)).size).toBe(1);
      expect(offsets[1]).toBeGreaterThan(offsets[0] as bigint);
      expect(offsets[2]).toBeGreaterThan(offsets[1] as bigint);
    });

    it("gives every consumer group every record", async () => {
      await appendValues("a", ["1", "2"]);
      await appendValues("b", ["3"]);
      const one = collector(3);
      const two = collector(3);
      await subscribe(`g.${randomUUID()}`, one.handler);
      await subscribe(`g.${randomUUID()}`, two.handler);
      await Promise.all([one.done, two.done]);
      expect(one.seen.map((r) => text(r.value)).sort()).toEqual(["1", "2", "3"]);
      expect(two.seen.map((r) => text(r.value)).sort()).toEqual(["1", "2", "3"]);
    });

    it("with a batch wait, hands records appended one by one over together, in order", async () => {
      const batches: string[][] = [];
      const consumer = collector(20);
      const subscription = await log.subscribe({
        group: `g.${randomUUID()}`,
        topic,
        batchWaitMs: 1500,
        handler: async (records) => {
          batches.push(records.map((r) => text(r.value)));
          await consumer.handler(records);
        },
      });
      subscriptions.push(subscription);
      // Twenty appends, each its own request, well within the wait.
      for (let i = 0; i < 20; i++) await appendValues("k", [`${i}`]);
      await consumer.done;
      // Without a wait each append is a batch of its own; a fetch that began before the first
      // append may end partway, so two batches at most.
      expect(batches.length).toBeLessThanOrEqual(2);
      expect(batches.flat()).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
    });

    it("records each committed record's append-to-commit delay for its group", async () => {
      const group = `g.${randomUUID()}`;
      const delays = async () => {
        const { values } = await consumerDelay.get();
        const count = values.find(
          (v) => v.metricName === "parley_log_consumer_delay_seconds_count" && v.labels.group === group,
        );
        return count?.value ?? 0;
      };
      await appendValues("k", ["1", "2", "3"]);
      const seen = collector(3);
      const subscription = await subscribe(group, seen.handler);
      await seen.done;
      // Observed once the batch's offsets are committed; stop() waits for that.
      await subscription.stop();
      expect(await delays()).toBe(3);
    });

    it("resumes a group after its last committed batch", async () => {
      const group = `g.${randomUUID()}`;
      await appendValues("k", ["1", "2", "3"]);
      const before = collector(3);
      const first = await subscribe(group, before.handler);
      await before.done;
      await first.stop();

      await appendValues("k", ["4", "5"]);
      const after = collector(2);
      await subscribe(group, after.handler);
      await after.done;
      expect(after.seen.map((r) => text(r.value))).toEqual(["4", "5"]);
    });

    it("offers a batch again when its handler throws, and moves on once it succeeds", async () => {
      await appendValues("k", ["1", "2", "3"]);
      const calls: string[][] = [];
      let succeeded: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        succeeded = resolve;
      });
      await subscribe(`g.${randomUUID()}`, async (records) => {
        calls.push(records.map((r) => text(r.value)));
        if (calls.length === 1) throw new Error("handler failed");
        succeeded();
      });
      await done;
      expect(calls[0]?.[0]).toBe("1");
      expect(calls[1]).toEqual(calls[0]);
    });

    it("reads exactly the records a group has not committed, of one key or of all", async () => {
      const group = `g.${randomUUID()}`;
      await appendValues("a", ["1"]);
      await appendValues("b", ["2"]);
      await appendValues("a", ["3"]);
      const consumer = collector(3);
      const subscription = await subscribe(group, consumer.handler);
      await consumer.done;
      await subscription.stop();
      await appendValues("a", ["4"]);
      await appendValues("b", ["5"]);
      await appendValues("a", ["6"]);

      // Across keys (partitions) only each key's order is promised: records of two partitions
      // appended within the same millisecond may come either way round.
      const byKey = (records: LogRecord[]) => ({
        a: records.filter((r) => r.key === "a").map((r) => text(r.value)),
        b: records.filter((r) => r.key === "b").map((r) => text(r.value)),
        all: records.map((r) => text(r.value)).sort(),
      });
      const tail = await log.readUncommitted(topic, group);
      expect(byKey(tail)).toEqual({ a: ["4", "6"], b: ["5"], all: ["4", "5", "6"] });
      const ofA = await log.readUncommitted(topic, group, "a");
      expect(ofA.map((r) => text(r.value))).toEqual(["4", "6"]);
      expect(ofA.every((r) => r.key === "a")).toBe(true);
      const neverSubscribed = await log.readUncommitted(topic, `g.${randomUUID()}`);
      expect(byKey(neverSubscribed)).toEqual({
        a: ["1", "3", "4", "6"],
        b: ["2", "5"],
        all: ["1", "2", "3", "4", "5", "6"],
      });
    });

    it("reads the tail alongside a store: a record the group commits meanwhile is in one of them", async () => {
      // The group's consumer writes to `store` and commits only after: the reader's other half.
      const group = `g.${randomUUID()}`;
      const store = new Set<string>();
      await appendValues("k", ["1"]);
      const write = collector(2);
      const handler = async (records: LogRecord[]) => {
        for (const r of records) store.add(text(r.value));
        await write.handler(records);
      };
      // A first read starts whatever the log keeps for reading its tail, before the race below.
      expect((await log.readUncommitted(topic, group, "k")).map((r) => text(r.value))).toEqual(["1"]);
      await appendValues("k", ["2"]);

      let plainReadMeanwhile: string[] = [];
      const [tail, stored] = await log.readUncommittedAlongside(topic, group, "k", async () => {
        // The store is read before the consumer writes and commits 1 and 2 ...
        const before = [...store];
        const subscription = await subscribe(group, handler);
        await write.done;
        await subscription.stop();
        // ... and a plain read now sees them committed (and may prune what it keeps).
        plainReadMeanwhile = (await log.readUncommitted(topic, group, "k")).map((r) => text(r.value));
        return before;
      });
      expect(stored).toEqual([]);
      expect(plainReadMeanwhile).toEqual([]);
      // Neither is in the store that was read, so both must be in the tail.
      expect(tail.map((r) => text(r.value))).toEqual(["1", "2"]);
    });

    it("keeps records, committed offsets and its next offset when reopened", async () => {
      const group = `g.${randomUUID()}`;
      const firstAppend = await appendValues("k", ["1", "2", "3"]);
      const consumer = collector(3);
      const subscription = await subscribe(group, consumer.handler);
      await consumer.done;
      await subscription.stop();
      subscriptions.length = 0;
      await appendValues("k", ["4"]);

      log = await subject.reopen();
      expect((await log.readUncommitted(topic, group)).map((r) => text(r.value))).toEqual(["4"]);
      const [appended] = await appendValues("k", ["5"]);
      expect(appended?.offset).toBeGreaterThan(firstAppend[2]?.offset as bigint);

      const resumed = collector(2);
      await subscribe(group, resumed.handler);
      await resumed.done;
      expect(resumed.seen.map((r) => text(r.value))).toEqual(["4", "5"]);
    });
  });
}
