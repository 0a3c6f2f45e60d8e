import { GroupCommit } from "../group-commit.js";
import type { LogRecord } from "./log.js";

/**
 * A consumer's handler that takes the batches handed over at the same time — Kafka gives one
 * fetch's partitions to the handler side by side (PARLEY_KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY)
 * — as one call: records of one partition stay together and in order, and a handler whose cost is
 * per call (a transaction, a lookup, a push) pays it once. At most `maxBatches` batches join, and
 * two joined calls run at once; when the call fails, every batch in it fails and is offered again.
 */
export function joinedBatches(
  handler: (records: LogRecord[]) => Promise<void>,
  maxBatches: number,
): (records: LogRecord[]) => Promise<void> {
  const joined = new GroupCommit<LogRecord[], undefined>(
    async (batches) => {
      await handler(batches.flat());
      return batches.map(() => undefined);
    },
    { maxItems: maxBatches, maxInFlight: 2 },
  );
  return (records) => joined.add(records);
}
