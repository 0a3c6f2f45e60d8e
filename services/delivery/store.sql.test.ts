import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openPglite } from "../kit/sql/database.pglite.js";
import { countStatements } from "../kit/testing/counted-sql.js";
import { statisticsTargets } from "../kit/testing/statistics-targets.js";
import { deliveryStoreContract } from "./store.contract.js";
import { SqlDeliveryStore } from "./store.sql.js";

/** A fresh PGlite database in a folder of its own; cleanup closes it and removes the folder. */
async function freshDatabase() {
  const dir = mkdtempSync(join(tmpdir(), "parley-delivery-store-"));
  const db = await openPglite(join(dir, "delivery"), "delivery", process.env.PARLEY_PGLITE_TEMPLATE);
  return {
    db,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

deliveryStoreContract("PGlite", async () => {
  const { db, cleanup } = await freshDatabase();
  const clock = { now: new Date() };
  return { store: await SqlDeliveryStore.open(db, () => clock.now), clock, concurrent: false, cleanup };
});

describe("the SQL delivery store's statements", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  /** A store on a fresh database, every statement it runs counted. */
  async function countedStore() {
    const { db, cleanup } = await freshDatabase();
    cleanups.push(cleanup);
    const { db: counted, count } = countStatements(db);
    return { db, store: await SqlDeliveryStore.open(counted), count };
  }

  it("appends a batch to every recipient's inbox in one statement", async () => {
    const { store, count } = await countedStore();
    const before = count("");
    const members = Array.from({ length: 50 }, (_, i) => `member-${i}`);
    const event = (key: string) => ({
      eventKey: key,
      kind: "message" as const,
      payload: new TextEncoder().encode(key),
      appendedAt: new Date(),
      recipients: members,
    });
    const written = await store.append([event("m:1"), event("m:2")]);
    expect(count("") - before).toBe(1);
    expect(written).toHaveLength(100);
    expect(written.filter((e) => e.userId === "member-7").map((e) => [e.seq, e.eventKey])).toEqual([
      [1, "m:1"],
      [2, "m:2"],
    ]);
  });

  it("writes a contact pair once per process: every 1:1 message names one", async () => {
    const { db, store, count } = await countedStore();
    const writes = () => count("INSERT INTO contacts");
    await store.addContacts([["alice", "bob"]]);
    await store.addContacts([["bob", "alice"]]);
    await store.addContacts([["alice", "bob"]]);
    expect(writes()).toBe(1);
    await store.addContacts([
      ["alice", "bob"],
      ["alice", "carol"],
    ]);
    expect(writes()).toBe(2);
    expect(await store.contactsOf("alice")).toEqual(["bob", "carol"]);
    // Another process (a restart) writes the pair again; the row is there once.
    await (await SqlDeliveryStore.open(db)).addContacts([["alice", "bob"]]);
    expect(await store.contactsOf("bob")).toEqual(["alice"]);
  });

  it("keeps ANALYZE's sample of the events and the inbox small: targets of 10, none for the payload", async () => {
    const { db } = await countedStore();
    const events = await statisticsTargets(db, "delivery_events");
    expect(Math.max(...Object.values(events))).toBe(10);
    expect(events.payload).toBe(0);
    expect(Math.max(...Object.values(await statisticsTargets(db, "inbox")))).toBe(10);
  });
});
