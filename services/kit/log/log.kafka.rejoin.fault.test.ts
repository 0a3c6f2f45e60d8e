import { randomUUID } from "node:crypto";
import type { Admin } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateServer, startPrivateKafka } from "../../../test/private-servers.js";
import { eventually } from "../testing/eventually.js";
import type { LogRecord, Subscription } from "./log.js";
import { KafkaLog } from "./log.kafka.js";
import { testKafkaAdmin, testKafkaOptions } from "./log.kafka.testing.js";

/** Long enough that waiting it out (what kafkajs alone did) cannot pass for rejoining. */
const SESSION_TIMEOUT_MS = 60_000;
/** How soon after Kafka is back the consumer must have the next record: well inside the session. */
const CONSUMING_AGAIN_WITHIN_MS = 20_000;

let kafka: PrivateServer;
let admin: Admin;

beforeAll(async () => {
  kafka = await startPrivateKafka();
  admin = testKafkaAdmin([kafka.address]);
}, 120_000);

afterAll(async () => {
  await admin?.disconnect();
  await kafka?.remove();
}, 60_000);

describe("a consumer group member when its broker is killed with SIGKILL and restarted", () => {
  it("rejoins as the member it was, so it consumes again at once instead of after its old session times out", async () => {
    const options = testKafkaOptions({ brokers: [kafka.address], sessionTimeoutMs: SESSION_TIMEOUT_MS });
    const log = await KafkaLog.open(options);
    const topic = `rejoin.${randomUUID()}`;
    const group = `g.${randomUUID()}`;
    const seen = new Map<string, () => void>();
    /** Resolves when the consumer has had `value`; fails after `ms`. */
    const consumed = (value: string, ms: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`"${value}" not consumed within ${ms} ms`)), ms);
        seen.set(value, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    let subscription: Subscription | undefined;
    try {
      subscription = await log.subscribe({
        group,
        topic,
        handler: async (records: LogRecord[]) => {
          for (const r of records) seen.get(Buffer.from(r.value).toString("utf8"))?.();
        },
      });
      const before = consumed("before", 30_000);
      await log.append(topic, [{ key: "k", value: Buffer.from("before") }]);
      await before;

      await kafka.kill9();
      await kafka.start();
      const after = consumed("after", 60_000 + CONSUMING_AGAIN_WITHIN_MS);
      // The producer reconnects by itself; appends may fail while the broker settles.
      let back = 0;
      await eventually(async () => {
        const ok = await log.append(topic, [{ key: "k", value: Buffer.from("after") }]).then(
          () => true,
          () => false,
        );
        back = performance.now();
        return ok;
      }, 60_000);

      // Joining as a new member would wait for the old one's session (60 s) to end first.
      await after;
      const waited = performance.now() - back;
      console.log(`consumed again ${Math.round(waited)} ms after Kafka took an append`);
      expect(waited).toBeLessThan(CONSUMING_AGAIN_WITHIN_MS);
      const [described] = (await admin.describeGroups([`${options.topicPrefix}${group}`])).groups;
      expect(described?.state).toBe("Stable");
      expect(described?.members, "the group holds the one consumer, no member left over").toHaveLength(1);
    } finally {
      await subscription?.stop();
      await log.close();
    }
  }, 240_000);
});
