import { randomUUID } from "node:crypto";
import { TOPICS } from "../services/kit/log/log.js";
import { PERSISTER_GROUP } from "../services/messages/persister.js";
import { testKafka } from "./kafka-client.js";

/**
 * For a failing fault test: where the messages missing from history are in the Kafka log (by their
 * `message-id` header), beside the partitions' offsets and the persister's committed offsets. It
 * tells "the broker lost an acknowledged record" from "the persister or the tail reader skipped one".
 */
export async function missingFromHistory(
  brokers: string,
  prefix: string,
  missing: string[],
): Promise<string> {
  if (missing.length === 0) return "nothing missing";
  const topic = `${prefix}${TOPICS.messages}`;
  const kafka = testKafka("parley-test-inspect", brokers.split(","));
  const admin = kafka.admin();
  await admin.connect();
  const consumer = kafka.consumer({ groupId: `parley-test-inspect-${randomUUID()}` });
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId: `${prefix}${PERSISTER_GROUP}`, topics: [topic] });
    const wanted = new Set(missing);
    const found: string[] = [];
    const remaining = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
    for (const [p, high] of remaining) if (high === 0n) remaining.delete(p);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("inspecting the log timed out")), 30_000);
      if (remaining.size === 0) {
        clearTimeout(timer);
        resolve();
        return;
      }
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const id = message.headers?.["message-id"]?.toString();
            if (id && wanted.has(id)) found.push(`${id} at partition ${partition} offset ${message.offset}`);
            if (BigInt(message.offset) + 1n >= (remaining.get(partition) ?? 0n)) remaining.delete(partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    const notInLog = missing.filter((id) => !found.some((f) => f.startsWith(id)));
    return [
      `in the log: ${found.join("; ") || "none"}`,
      `NOT in the log: ${notInLog.join(", ") || "none"}`,
      `partitions (low-high): ${ends.map((e) => `${e.partition}:${e.low}-${e.high}`).join(" ")}`,
      `persister committed: ${(committed[0]?.partitions ?? []).map((c) => `${c.partition}:${c.offset}`).join(" ")}`,
    ].join("\n");
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
