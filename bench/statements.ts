/**
 * What one message costs all-in-one, in SQL: starts Parley (all targets, PGlite in its thread),
 * one sender and one WebSocket stream, sends N messages at 100/s (open loop) and counts every
 * statement PGlite's thread ran per message, with its mean wall time (queueing included), and the
 * send → stream latency. `npx tsx bench/statements.ts [N=500]`.
 */

import type { SqlExecutor } from "../services/kit/sql/database.js";
import { PgliteThread } from "../services/kit/sql/pglite.thread.js";
import { newUser, restClient } from "../test/clients.js";
import { wsEvents } from "../test/event-clients.js";
import { startTestParley } from "../test/harness.js";

const N = Number(process.argv[2] ?? 500);
const counts = new Map<string, { n: number; ms: number }>();
const note = (sql: string, ms: number) => {
  const key = sql.replace(/\s+/g, " ").trim().slice(0, 70);
  const c = counts.get(key) ?? { n: 0, ms: 0 };
  c.n++;
  c.ms += ms;
  counts.set(key, c);
};
async function timed<T>(sql: string, run: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await run();
  } finally {
    note(sql, performance.now() - t);
  }
}
// Every SQL call of the process goes through the thread's query/exec/transaction.
const thread = PgliteThread.prototype;
const { query, exec, transaction } = thread;
thread.query = function (this: PgliteThread, db: number, sql: string, params?: unknown[]) {
  return timed(sql, () => query.call(this, db, sql, params));
} as typeof query;
thread.exec = function (db, sql) {
  return timed(sql, () => exec.call(this, db, sql));
};
thread.transaction = function (this: PgliteThread, db: number, fn: (tx: SqlExecutor) => Promise<unknown>) {
  return timed("(a transaction)", () =>
    transaction.call(this, db, (tx: SqlExecutor) =>
      fn({ query: (sql, params) => timed(`  in it: ${sql}`, () => tx.query(sql, params)) }),
    ),
  );
} as typeof transaction;

const parley = await startTestParley({ env: { PARLEY_MESSAGES_SEND_LIMIT: "1000000" } });
const api = restClient(parley.url);
const [alice, bob] = [await newUser(api, "a"), await newUser(api, "b")];
const stream = wsEvents(parley.url, { token: bob.token });
await stream.until((e) => e.control?.kind === "STREAM_CONTROL_KIND_LIVE", 10_000);
// Warm-up: JIT, the conversation's data key, the contact pair.
for (let i = 0; i < 20; i++)
  await api.post("/chat/send", { recipient: bob.username, message: "warm" }, alice.token);
await stream.until(() => stream.received.filter((e) => e.message).length >= 20, 10_000);
counts.clear();

const sentAt = new Map<string, number>();
const latency: number[] = [];
stream.socket?.on("message", (data) => {
  const content = JSON.parse(data.toString()).message?.message?.content;
  const at = sentAt.get(content);
  if (at !== undefined) latency.push(performance.now() - at);
});
const start = performance.now();
for (let i = 0; i < N; i++) {
  const wait = start + i * 10 - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  sentAt.set(`m${i}`, performance.now());
  void api.post("/chat/send", { recipient: bob.username, message: `m${i}` }, alice.token);
}
await stream.until(() => latency.length >= N, 60_000);

latency.sort((a, b) => a - b);
const q = (p: number) => (latency[Math.min(N - 1, Math.floor(p * N))] as number).toFixed(1);
console.log(`send -> stream ms: p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${q(1)}`);
console.log("per message | mean ms | statement");
let calls = 0;
let busy = 0;
for (const [sql, c] of [...counts].sort((a, b) => b[1].n - a[1].n)) {
  console.log(`${(c.n / N).toFixed(2).padStart(11)} | ${(c.ms / c.n).toFixed(2).padStart(7)} | ${sql}`);
  if (!sql.startsWith("  in it:")) {
    calls += c.n;
    busy += c.ms;
  }
}
console.log(
  `calls to PGlite's thread per message: ${(calls / N).toFixed(1)}; their wall time: ${(busy / N).toFixed(1)} ms`,
);
stream.close();
await parley.cleanup();
process.exit(0);
