import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { deliveryStoreContract } from "./store.contract.js";
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
