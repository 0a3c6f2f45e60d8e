import type { MessageRecord } from "../gen/grpc/parley/internal/v1/records.js";
import {
  type LogRecord,
  type MessageLog,
  type NewRecord,
  type Subscription,
  TOPICS,
} from "../kit/log/log.js";
import type { Logger } from "../kit/logger.js";
import type { HistoryStore } from "./history.js";
import { decodeRecord } from "./records.js";

export const PERSISTER_GROUP = "parley.persister";
/** Records of parley.messages that cannot be stored: kept for a person to look at, never retried. */
export const MESSAGES_DLQ = "parley.messages.dlq";

/**
 * The persister: a consumer group on parley.messages that writes each batch to history in one
 * idempotent write. Offsets commit only after the write (the log commits when the handler
 * resolves), so a crash replays the batch and the replay changes nothing. A record that does not
 * decode goes to the DLQ instead of blocking its partition.
 */
export async function startPersister(deps: {
  log: MessageLog;
  history: HistoryStore;
  logger: Logger;
  maxBatch?: number;
  /** How long new records may gather before a write (SubscribeOptions.batchWaitMs). */
  batchWaitMs?: number;
}): Promise<Subscription> {
  return deps.log.subscribe({
    group: PERSISTER_GROUP,
    topic: TOPICS.messages,
    maxBatch: deps.maxBatch ?? 500,
    batchWaitMs: deps.batchWaitMs ?? 0,
    handler: async (batch) => {
      const records: MessageRecord[] = [];
      const rejected: NewRecord[] = [];
      for (const entry of batch) {
        const record = decodeRecord(entry.value);
        if (typeof record === "string") rejected.push(deadLetter(entry, record));
        else records.push(record);
      }
      await deps.history.write(records);
      if (rejected.length > 0) {
        deps.logger.error(
          { count: rejected.length, offsets: rejected.map((r) => r.headers?.["source-offset"]) },
          "undecodable message records sent to the DLQ",
        );
        await deps.log.append(MESSAGES_DLQ, rejected);
      }
    },
  });
}

function deadLetter(entry: LogRecord, reason: string): NewRecord {
  return {
    key: entry.key,
    value: entry.value,
    headers: {
      ...entry.headers,
      reason,
      "source-topic": entry.topic,
      "source-partition": String(entry.partition),
      "source-offset": String(entry.offset),
    },
  };
}
