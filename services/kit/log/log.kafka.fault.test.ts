import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LogRecord, Subscription } from "./log.js";
import type { KafkaLog } from "./log.kafka.js";
import { deleteTestTopics, openTestKafkaLog, testKafkaOptions } from "./log.kafka.testing.js";

const KAFKA_SH = join(import.meta.dirname, "..", "..", "..", "deps", "kafka.sh");
const kafka = (command: "stop" | "start") =>
  execFileSync("bash", [KAFKA_SH, command], { stdio: ["ignore", "ignore", "inherit"] });

const text = (r: LogRecord) => Buffer.from(r.value).toString("utf8");
const KEYS = ["c1", "c2", "c3", "c4"];

/** Resolves once `done()` holds, checking whenever `poke` is called; rejects after `ms`. */
function until(done: () => boolean, ms: number) {
  let check = () => {};
  const reached = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`condition not met within ${ms} ms`)), ms);
    check = () => {
      if (done()) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  return { reached, poke: () => check() };
}

describe("the Kafka log when things fail", () => {
  const options = testKafkaOptions({ appendTimeoutMs: 3000, readTimeoutMs: 2000 });
  let log: KafkaLog;
  let topic: string;
  const subscriptions: Subscription[] = [];

  beforeEach(async () => {
    log = await openTestKafkaLog(options);
    topic = `fault.${randomUUID()}`;
  });
  afterEach(async () => {
    for (const s of subscriptions.splice(0)) await s.stop();
    await log.close();
    await deleteTestTopics(options.topicPrefix);
  });

  it("fails every append while Kafka is down, within the timeout, and delivers each acknowledged record once, in key order", async () => {
    const acknowledged: string[] = [];
    const attempt = async (value: string, key: string) => {
      await log.append(topic, [{ key, value: Buffer.from(value) }]);
      acknowledged.push(value);
    };
    for (let i = 0; i < 5; i++) for (const key of KEYS) await attempt(`${key}-before-${i}`, key);

    const whileDown: string[] = [];
    kafka("stop");
    try {
      const outcomes = await Promise.all(
        KEYS.map(async (key) => {
          const value = `${key}-down`;
          whileDown.push(value);
          const started = performance.now();
          const outcome = await attempt(value, key).then(
            () => "acknowledged",
            () => "failed",
          );
          return { outcome, ms: performance.now() - started };
        }),
      );
      expect(outcomes.map((o) => o.outcome)).toEqual(KEYS.map(() => "failed"));
      for (const { ms } of outcomes) expect(ms).toBeLessThan(options.appendTimeoutMs + 1000);
      await expect(log.readUncommitted(topic, "readers")).rejects.toThrow();
    } finally {
      kafka("start");
    }

    // Kafka is back: the producer reconnects by itself. An append may still fail while the broker
    // settles; each attempt uses a new value, so a failed one never hides a duplicate.
    for (let i = 0; i < 5; i++) {
      for (const key of KEYS) {
        const deadline = Date.now() + 30_000;
        for (let n = 0; ; n++) {
          const ok = await attempt(`${key}-after-${i}-${n}`, key).then(
            () => true,
            (err: unknown) => {
              if (Date.now() > deadline) throw err;
              return false;
            },
          );
          if (ok) break;
        }
        // Right after the first append succeeds the group coordinators may still be loading:
        // a reader of a group new to them waits for that instead of failing.
        if (i === 0 && key === KEYS[0]) await log.readUncommitted(topic, `fresh.${randomUUID()}`);
      }
    }
    expect(acknowledged).toHaveLength(40);

    const seen: LogRecord[] = [];
    const all = until(() => acknowledged.every((v) => seen.some((r) => text(r) === v)), 30_000);
    subscriptions.push(
      await log.subscribe({
        group: `g.${randomUUID()}`,
        topic,
        handler: async (records) => {
          seen.push(...records);
          all.poke();
        },
      }),
    );
    await all.reached;
    // Everything the topic holds has been consumed, so a duplicate would be in `seen` by now.
    const held = (await log.readUncommitted(topic, `never.${randomUUID()}`)).map(text);
    const values = seen.map(text);
    expect(values.sort()).toEqual([...held].sort());
    for (const value of acknowledged) expect(values.filter((v) => v === value)).toHaveLength(1);
    for (const value of whileDown) expect(values).not.toContain(value);
    for (const key of KEYS) {
      const ofKey = seen.filter((r) => r.key === key).map(text);
      expect(ofKey.filter((v) => acknowledged.includes(v))).toEqual(
        acknowledged.filter((v) => v.startsWith(`${key}-`)),
      );
    }
  }, 180_000);

  it("gives a group's uncommitted records to the next member when one hangs before committing", async () => {
    for (const key of KEYS)
      await log.append(topic, [
        { key, value: Buffer.from(`${key}-1`) },
        { key, value: Buffer.from(`${key}-2`) },
      ]);
    const group = `g.${randomUUID()}`;

    const stuckSeen: LogRecord[] = [];
    let release: (err: Error) => void = () => {};
    const never = new Promise<void>((_, reject) => {
      release = reject;
    });
    const stuckGotSome = until(() => stuckSeen.length > 0, 20_000);
    const stuck = await log.subscribe({
      group,
      topic,
      handler: async (records) => {
        stuckSeen.push(...records);
        stuckGotSome.poke();
        await never; // a process that died (or hung) mid-batch: no commit, no heartbeat
      },
    });
    await stuckGotSome.reached;

    const seen: LogRecord[] = [];
    const all = until(() => seen.length >= 8, 40_000);
    subscriptions.push(
      await log.subscribe({
        group,
        topic,
        handler: async (records) => {
          seen.push(...records);
          all.poke();
        },
      }),
    );
    await all.reached;
    release(new Error("the hung member finally gives up"));
    await stuck.stop();

    expect(seen.map(text).sort()).toEqual(KEYS.flatMap((k) => [`${k}-1`, `${k}-2`]).sort());
    for (const record of stuckSeen) expect(seen.map(text)).toContain(text(record));
  }, 90_000);
});
