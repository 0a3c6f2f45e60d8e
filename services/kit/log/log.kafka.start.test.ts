import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { dependencyOf, watchDependencies } from "../dependencies.js";
import { createInfra, type Infra } from "../infra.js";
import { createLogger } from "../logger.js";
import { Readiness } from "../readiness.js";
import { eventually } from "../testing/eventually.js";
import type { Subscription } from "./log.js";
import { KafkaLog } from "./log.kafka.js";
import { deleteTestTopics, testBrokers, testKafkaOptions } from "./log.kafka.testing.js";

/**
 * Start-up of a consumer that cannot join its group, on the run's broker. A member hung mid-batch
 * sends no heartbeat, so Kafka holds a new member's join until the hung one's session ends: the
 * same wait as a group whose coordinator does not answer, made deterministic.
 */
describe("a consumer that cannot join its group in time", () => {
  const options = testKafkaOptions();
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
    await deleteTestTopics(options.topicPrefix);
  });

  it("fails the start with an error naming the group within the bound, and /readyz names it while it waits", async () => {
    const topic = `start.${randomUUID()}`;
    const group = `g.${randomUUID()}`;
    const kafkaGroup = `${options.topicPrefix}${group}`;

    const hung = await KafkaLog.open({ ...options, clientId: "hung-member", sessionTimeoutMs: 25_000 });
    cleanups.push(() => hung.close());
    await hung.append(topic, [{ key: "k", value: Buffer.from("v") }]);
    let release: (err: Error) => void = () => {};
    const never = new Promise<void>((_, reject) => {
      release = reject;
    });
    never.catch(() => {});
    let inBatch: () => void = () => {};
    const hungInBatch = new Promise<void>((resolve) => {
      inBatch = resolve;
    });
    const stuck: Subscription = await hung.subscribe({
      group,
      topic,
      handler: async () => {
        inBatch();
        await never; // no commit, no heartbeat
      },
    });
    cleanups.push(() => stuck.stop());
    cleanups.push(async () => release(new Error("test over")));
    await hungInBatch;

    // The joining process, wired as a real one is: infra, with /readyz's checks.
    const env = {
      PARLEY_KAFKA_BROKERS: testBrokers().join(","),
      PARLEY_KAFKA_TOPIC_PREFIX: options.topicPrefix,
      PARLEY_KAFKA_PARTITIONS: "3",
      PARLEY_KAFKA_CLIENT_ID: "joiner",
      PARLEY_KAFKA_SESSION_TIMEOUT_MS: "6000",
      PARLEY_KAFKA_CONSUMER_START_TIMEOUT_MS: "10000",
    };
    const readiness = new Readiness();
    const logger = createLogger({ level: process.env.LOG_LEVEL ?? "silent" });
    const infra: Infra = watchDependencies({
      infra: createInfra({ env, dataDir: tmpdir(), logger }),
      env,
      readiness,
      targets: ["delivery"],
    });
    cleanups.push(() => readiness.close());
    cleanups.push(() => infra.close());
    const log = await infra.messageLog();

    const started = performance.now();
    const joining = log.subscribe({ group, topic, handler: async () => {} });
    joining.catch(() => {});
    const kafkaCheck = async () => (await readiness.report(2000)).checks.kafka ?? "";
    await eventually(
      async () => (await kafkaCheck()).includes(`consumer group ${kafkaGroup} not joined`),
      9_500,
    );

    const failure = await joining.then(
      () => undefined,
      (err: unknown) => err,
    );
    const ms = performance.now() - started;
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe(
      `Kafka: consumer group ${kafkaGroup} did not join within 10000 ms (still joining)`,
    );
    expect(ms).toBeGreaterThanOrEqual(9_900);
    expect(ms).toBeLessThan(13_000);
    // The process's start-up report names Kafka, and the member that gave up is no longer checked.
    expect(dependencyOf(failure)).toBe("kafka");
    expect(await kafkaCheck()).toBe("ok");
  }, 60_000);
});
