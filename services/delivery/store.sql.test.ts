import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openPglite } from "../kit/sql/database.pglite.js";
import { countStatements } from "../kit/testing/counted-sql.js";
import { deliveryStoreContract } from "./store.contract.js";
import { SqlDeliveryStore } from "./store.sql.js";

deliveryStoreContract("PGlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "parley-delivery-store-"));
  const db = await openPglite(join(dir, "delivery"), "delivery", process.env.PARLEY_PGLITE_TEMPLATE);
  const clock = { now: new Date() };
  return {
    store: await SqlDeliveryStore.open(db, () => clock.now),
    clock,
    concurrent: false,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("the SQL delivery store's statements", () => {
  it("writes a contact pair once per process: every 1:1 message names one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-delivery-store-"));
    const db = await openPglite(join(dir, "delivery"), "delivery", process.env.PARLEY_PGLITE_TEMPLATE);
    try {
      const { db: counted, count } = countStatements(db);
      const store = await SqlDeliveryStore.open(counted);
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
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
