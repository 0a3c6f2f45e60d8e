/**
 * History page reads on the CQL store against the running Cassandra (deps/up.sh cassandra):
 * p50/p99 of a 50-message page, newest and with a cursor, in a keyspace of its own (dropped after).
 *   set -a; . .deps/env; set +a; npx tsx bench/history-page.ts [reads=2000] [concurrency=1]
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Client } from "cassandra-driver";
import { messageIdAt, sealedRecord } from "../services/messages/fixtures.js";
import { CqlHistoryStore } from "../services/messages/history.cql.js";

const reads = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 1);
const contactPoints = (process.env.PARLEY_TEST_CQL_CONTACT_POINTS ?? "127.0.0.1:9042").split(",");
const localDc = process.env.PARLEY_TEST_CQL_LOCAL_DC ?? "datacenter1";
const config = {
  contactPoints,
  localDc,
  keyspace: `parley_bench_${randomBytes(4).toString("hex")}`,
  replication: { class: "SimpleStrategy", replicationFactor: 1 } as const,
  bucketDays: 30,
  requestTimeoutMs: 5000,
};

const store = await CqlHistoryStore.open(config);
try {
  // 20 conversations of 1,000 messages each (1 KB of ciphertext, like a long text message), sent
  // over the last 60 days so pages cross bucket boundaries too.
  const conversations = Array.from({ length: 20 }, (_, i) => ({
    conversationId: `d:a${i}:b${i}`,
    senderId: `a${i}`,
    recipientId: `b${i}`,
  }));
  const now = Date.now();
  const cursors: string[] = [];
  for (const people of conversations) {
    const records = Array.from({ length: 1000 }, (_, j) => {
      const record = sealedRecord(messageIdAt(now - 60 * 86_400_000 + j * 5_184_000), people);
      return { ...record, ciphertext: randomBytes(1024) };
    });
    for (let i = 0; i < records.length; i += 250) await store.write(records.slice(i, i + 250));
    cursors.push(...records.filter((_, j) => j % 37 === 0).map((r) => r.messageId));
  }
  const timings: number[] = [];
  let done = 0;
  const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)] as T;
  const worker = async () => {
    while (done < reads) {
      done++;
      const people = pick(conversations);
      const before = Math.random() < 0.5 ? undefined : pick(cursors);
      const started = performance.now();
      await store.conversationPage(people.conversationId, before ? { limit: 50, before } : { limit: 50 });
      timings.push(performance.now() - started);
    }
  };
  for (let i = 0; i < 200; i++)
    await store.conversationPage(pick(conversations).conversationId, { limit: 50 });
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  timings.sort((a, b) => a - b);
  const at = (q: number) =>
    (timings[Math.min(timings.length - 1, Math.floor(q * timings.length))] ?? 0).toFixed(2);
  console.log(
    `${timings.length} page reads (50 messages, 1 KB each), concurrency ${concurrency}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms, ${(timings.length / seconds).toFixed(0)} pages/s`,
  );
} finally {
  await store.close();
  const admin = new Client({ contactPoints, localDataCenter: localDc });
  await admin.execute(`DROP KEYSPACE IF EXISTS ${config.keyspace}`);
  await admin.shutdown();
}
