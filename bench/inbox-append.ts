/**
 * What delivery's inbox append costs on PGlite (in its thread, as the all-in-one runs it): one
 * event to 1,000 members in one call and in parts (delivery's FAN_OUT_PART_ENTRIES), and a
 * batch of 100 direct messages. The same members every round, so the heads are updated, not
 * created, and the inbox grows as it would. The first rounds are left out (plans, caches).
 *   npx tsx bench/inbox-append.ts [rounds=60]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { v7 as uuidv7 } from "uuid";
import { FAN_OUT_PART_ENTRIES, partsByRecipient } from "../services/delivery/fanout.js";
import type { DurableEvent } from "../services/delivery/store.js";
import { SqlDeliveryStore } from "../services/delivery/store.sql.js";
import { openPglite } from "../services/kit/sql/database.pglite.js";

const rounds = Number(process.argv[2] ?? 60);
const WARM_UP = 5;
const members = Array.from({ length: 1000 }, () => uuidv7());
const people = Array.from({ length: 400 }, () => uuidv7());

const event = (recipients: string[]): DurableEvent => ({
  eventKey: `m:${uuidv7()}`,
  kind: "message",
  payload: Buffer.alloc(300),
  appendedAt: new Date(),
  recipients,
});
const someone = () => people[Math.floor(Math.random() * people.length)] as string;

const cases: [string, () => DurableEvent[][]][] = [
  ["1,000 members, one call", () => [[event(members)]]],
  [
    `1,000 members, parts of ${FAN_OUT_PART_ENTRIES}`,
    () => partsByRecipient([event(members)], FAN_OUT_PART_ENTRIES),
  ],
  ["100 direct messages, one call", () => [Array.from({ length: 100 }, () => event([someone(), someone()]))]],
];

const dir = mkdtempSync(join(tmpdir(), "parley-inbox-append-"));
const db = await openPglite(join(dir, "delivery"), "delivery", undefined, { thread: true });
try {
  const store = await SqlDeliveryStore.open(db);
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  // The cases alternate round by round, so each sees the same inbox size.
  for (let round = 0; round < rounds; round++) {
    for (const [name, calls] of cases) {
      const started = performance.now();
      for (const call of calls()) await store.append(call);
      if (round >= WARM_UP) times.get(name)?.push(performance.now() - started);
    }
  }
  console.log(`| case (${rounds - WARM_UP} rounds) | p50 ms | p90 ms | max ms |\n|---|---|---|---|`);
  for (const [name, ms] of times) {
    ms.sort((a, b) => a - b);
    const at = (q: number) => (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] as number).toFixed(1);
    console.log(`| ${name} | ${at(0.5)} | ${at(0.9)} | ${at(1)} |`);
  }
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
