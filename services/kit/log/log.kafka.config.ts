import { z } from "zod";
import { defineConfig } from "../config.js";

const positiveInt = () => z.coerce.number().int().positive();

/** The Kafka message log's settings; the brokers themselves are PARLEY_KAFKA_BROKERS (infra). */
export const kafkaLogConfig = defineConfig({
  clientId: {
    env: "PARLEY_KAFKA_CLIENT_ID",
    schema: z.string().min(1).default("parley"),
    help: "Client id Kafka sees in its logs and quotas.",
  },
  partitions: {
    env: "PARLEY_KAFKA_PARTITIONS",
    schema: positiveInt().default(6),
    help: "Partitions of the topics Parley creates. Never change it for an existing topic: keys would move partition and lose their order.",
  },
  replicationFactor: {
    env: "PARLEY_KAFKA_REPLICATION_FACTOR",
    schema: positiveInt().default(1),
    help: "Replicas of the topics Parley creates (3 in production, with min.insync.replicas=2).",
  },
  topicPrefix: {
    env: "PARLEY_KAFKA_TOPIC_PREFIX",
    schema: z.string().default(""),
    help: "Prefix of every topic and consumer group name, so several deployments (or test runs) share a cluster.",
  },
  appendTimeoutMs: {
    env: "PARLEY_KAFKA_APPEND_TIMEOUT_MS",
    schema: positiveInt().default(5000),
    help: "An append Kafka has not acknowledged within this fails (a send answers 503), never hangs.",
  },
  readTimeoutMs: {
    env: "PARLEY_KAFKA_READ_TIMEOUT_MS",
    schema: positiveInt().default(2000),
    help: "Longest a read of the uncommitted tail waits for the tail reader to reach the end of the log.",
  },
  sessionTimeoutMs: {
    env: "PARLEY_KAFKA_SESSION_TIMEOUT_MS",
    schema: positiveInt().default(15000),
    help: "Consumer group session timeout: how soon the partitions of a consumer that died move to another, and how long its group waits for it when its process restarts. Keep it above the longest single batch a consumer handles (kafkajs heartbeats between batches); the broker's minimum is 6000.",
  },
  consumerStartTimeoutMs: {
    env: "PARLEY_KAFKA_CONSUMER_START_TIMEOUT_MS",
    schema: positiveInt().default(90000),
    help: "A consumer that has not joined its group within this fails the process's start with an error naming the group, instead of waiting forever. Keep it above the session timeout: a restarted process joins only once its old member's session has expired.",
  },
  partitionsConsumedConcurrently: {
    env: "PARLEY_KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY",
    schema: positiveInt().default(3),
    help: "Partitions one consumer processes at the same time (order is kept within each).",
  },
});

export type KafkaLogConfig = ReturnType<typeof kafkaLogConfig.load>;
