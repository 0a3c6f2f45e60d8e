import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPglite } from "../kit/sql/database.pglite.js";
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
