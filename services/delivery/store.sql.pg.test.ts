import { randomUUID } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, it } from "vitest";
import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { deliveryStoreContract } from "./store.contract.js";
import type { DurableEvent } from "./store.js";
import { SqlDeliveryStore } from "./store.sql.js";

// The mesh's store: real concurrency, so the row locks and the unique index are what is tested.
deliveryStoreContract("PostgreSQL", async () => {
  const fresh = await openFreshPostgres("delivery");
  const clock = { now: new Date() };
  return {
    store: await SqlDeliveryStore.open(fresh.db, () => clock.now),
    clock,
    concurrent: true,
    cleanup: fresh.close,
  };
});

describe("inbox_append on PostgreSQL", () => {
  it("fails an append of a pair that another transaction is writing, whole, once that one commits; its retry writes nothing", async () => {
    const fresh = await openFreshPostgres("delivery");
    try {
      const store = await SqlDeliveryStore.open(fresh.db);
      const people = Array.from({ length: 5 }, () => `p-${randomUUID()}`);
      const event: DurableEvent = {
        eventKey: `m:${uuidv7()}`,
        kind: "message",
        payload: Buffer.from("sealed"),
        appendedAt: new Date(),
        recipients: people,
      };
      let second: Promise<unknown> | undefined;
      await fresh.db.transaction(async (tx) => {
        // The first delivery of the batch, holding its heads' locks until it commits.
        const rows = await tx.query("SELECT user_id FROM inbox_append($1, $2, $3, $4, $5, $6, NULL)", [
          [event.eventKey],
          [event.kind],
          [event.payload],
          [event.appendedAt],
          people,
          people.map(() => event.eventKey),
        ]);
        expect(rows).toHaveLength(5);
        second = store.append([event]).then(
          (written) => ({ written }),
          (err: Error) => ({ failed: err.message }),
        );
        // Until the second is waiting for those locks (found no pair written, so it would write them).
        await expect
          .poll(async () => (await fresh.db.query("SELECT 1 FROM pg_locks WHERE NOT granted")).length, {
            timeout: 10_000,
            interval: 20,
          })
          .toBeGreaterThan(0);
      });
      expect(await second).toEqual({ failed: expect.stringContaining("inbox_once_per_user") });
      // Rolled back whole: no seq was taken, and the retry finds every pair written.
      expect(await store.append([event])).toEqual([]);
      for (const person of people) expect((await store.replay(person, 0, 10)).headSeq).toBe(1);
    } finally {
      await fresh.close();
    }
  });
});
