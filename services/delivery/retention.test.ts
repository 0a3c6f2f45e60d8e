import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../kit/logger.js";
import type { SqlDatabase } from "../kit/sql/database.js";
import { openPglite } from "../kit/sql/database.pglite.js";
import { eventually } from "../kit/testing/eventually.js";
import { startRetentionSweep } from "./retention.js";
import { SqlDeliveryStore } from "./store.sql.js";

let dir: string;
let db: SqlDatabase;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "parley-retention-"));
  db = await openPglite(join(dir, "delivery"), "delivery", process.env.PARLEY_PGLITE_TEMPLATE);
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the retention sweep", () => {
  it("deletes events older than the retention on its own, so an old cursor becomes expired", async () => {
    const clock = { now: new Date("2026-01-01T00:00:00Z") };
    const store = await SqlDeliveryStore.open(db, () => clock.now);
    const event = (n: number) => ({
      eventKey: `m:${n}`,
      kind: "message" as const,
      payload: Buffer.from(`p${n}`),
      appendedAt: clock.now,
      recipients: ["alice"],
    });
    await store.append([event(1), event(2)]);
    // Stored a day after the first two; the retention is one hour.
    clock.now = new Date("2026-01-02T00:00:00Z");
    await store.append([event(3)]);
    const sweep = startRetentionSweep({
      store,
      retentionMs: 3600_000,
      everyMs: 20,
      logger: createLogger({ level: "silent" }),
      now: () => clock.now.getTime(),
    });
    try {
      await eventually(async () => (await store.replay("alice", 0, 10)).oldestSeq === 3, 5000);
    } finally {
      await sweep.stop();
    }
    expect((await store.replay("alice", 0, 10)).entries.map((e) => e.seq)).toEqual([3]);
    expect(await store.replay("alice", 1, 10)).toMatchObject({ expired: true, entries: [] });
    expect((await store.replay("alice", 2, 10)).entries.map((e) => e.seq)).toEqual([3]);
    // The payloads of the swept events are gone too; the kept one stays.
    const payloads = await db.query<{ event_key: string }>(
      "SELECT event_key FROM delivery_events ORDER BY 1",
    );
    expect(payloads.map((r) => r.event_key)).toEqual(["m:3"]);
  });
});
