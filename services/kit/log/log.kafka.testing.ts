// Test fixtures (imported by *.test.ts only): the Kafka log on the real broker of deps/, under a
// topic prefix of its own so tests share the broker without cleaning it between them.
import { randomUUID } from "node:crypto";
import { realServerSetting } from "../../../test/real-servers.js";
import { createLogger } from "../logger.js";
import { createKafka } from "./log.kafka.client.js";
import { kafkaLogConfig } from "./log.kafka.config.js";
import { KafkaLog, type KafkaLogOptions } from "./log.kafka.js";

export const testBrokers = () => realServerSetting("PARLEY_TEST_KAFKA_BROKERS").split(",");

/** Options for a Kafka log whose topics and groups no other test sees. */
export function testKafkaOptions(overrides: Partial<KafkaLogOptions> = {}): KafkaLogOptions {
  return {
    ...kafkaLogConfig.load({}),
    brokers: testBrokers(),
    logger: createLogger({ level: process.env.LOG_LEVEL ?? "silent" }),
    topicPrefix: `test.${randomUUID()}.`,
    partitions: 3,
    // A member that died without leaving is replaced after this; the broker's minimum is 6 s.
    sessionTimeoutMs: 6000,
    ...overrides,
  };
}

export function openTestKafkaLog(overrides: Partial<KafkaLogOptions> = {}): Promise<KafkaLog> {
  return KafkaLog.open(testKafkaOptions(overrides));
}

/** An admin client on the test broker, or on `brokers` (connect it before use). */
export function testKafkaAdmin(brokers = testBrokers()) {
  return createKafka({
    brokers,
    clientId: "parley-tests",
    purpose: "admin",
    logger: createLogger({ level: "silent" }),
  }).admin();
}

/** Deletes the topics (and so the records) a test made under its prefix. */
export async function deleteTestTopics(prefix: string): Promise<void> {
  const admin = testKafkaAdmin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
