import { openTestStores } from "./fixtures.js";
import { historyContract } from "./history.contract.js";
import { SqlHistoryStore } from "./history.sql.js";

historyContract("SQL (PGlite)", async () => {
  const stores = await openTestStores();
  return { history: new SqlHistoryStore(stores.db), cleanup: () => stores.close() };
});
