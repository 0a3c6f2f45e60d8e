import { type IHeaders, Kafka, type KafkaMessage, logLevel } from "kafkajs";
import type { Logger } from "../logger.js";
import { fixKafkajsIdleLoop } from "./kafkajs-idle-loop.js";
import { rejoinKafkajsGroupsAsTheSameMember } from "./kafkajs-rejoin.js";
import type { LogRecord } from "./log.js";

fixKafkajsIdleLoop();
rejoinKafkajsGroupsAsTheSameMember();

/**
 * A kafkajs client. The producer's has few, short retries on purpose: a send to a Kafka that is
 * down must fail within seconds (the caller answers 503 and the client retries with its message
 * id), not queue for minutes while the user waits. Admin calls and consumers are off the send
 * path and get Kafka's usual patience (topic creation can take seconds on a busy controller);
 * reads that a user waits for are bounded by their own deadline instead.
 */
export function createKafka(options: {
  brokers: string[];
  clientId: string;
  logger: Logger;
  purpose: "produce" | "admin";
}): Kafka {
  const fast = options.purpose === "produce";
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: fast ? 1000 : 3000,
    requestTimeout: fast ? 3000 : 30_000,
    retry: fast ? { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 } : { retries: 5 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }) => {
        const { message, ...fields } = log;
        const entry = { component: "kafkajs", namespace, ...fields };
        // kafkajs logs every error answer from a broker at error level, though its callers handle
        // them ("topic already exists" from a concurrent creator, "the coordinator is loading" on
        // a new broker); what is not handled reaches Parley's own logs with its context.
        if (namespace === "Connection" && message.startsWith("Response "))
          options.logger.debug(entry, message);
        // The producer's few retries are deliberate (above), and a failed request ends its
        // idempotent session (log.kafka.producer.ts), which keeps the guarantee this warns about;
        // it was a warning at every start and after every failed send.
        else if (message.startsWith("Limiting retries for the idempotent producer"))
          options.logger.debug(entry, message);
        else if (level === logLevel.ERROR) options.logger.error(entry, message);
        else options.logger.warn(entry, message);
      },
  });
}

/** Kafka header values are bytes, possibly repeated; the role's headers are one string each. */
export function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}

export function toLogRecord(topic: string, partition: number, message: KafkaMessage): LogRecord {
  return {
    topic,
    partition,
    offset: BigInt(message.offset),
    key: message.key?.toString() ?? "",
    value: message.value ?? Buffer.alloc(0),
    headers: headerText(message.headers),
    timestamp: Number(message.timestamp),
  };
}

/**
 * The Kafka log could not get ready (a topic without leaders, a consumer that cannot join its
 * group) within its bound. Its name tells the process's start-up report that Kafka is the reason.
 */
export class KafkaStartError extends Error {
  override name = "KafkaStartError";
}

/** Settles like `work`, or rejects once `ms` have passed; `work` is not cancelled, only abandoned. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka: ${what} did not complete within ${ms} ms`)), ms);
  });
  work.catch(() => {});
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
