import { expect, it } from "vitest";
import { statisticsTargets } from "../kit/testing/statistics-targets.js";
import { openTestStores } from "./fixtures.js";
import { historyContract } from "./history.contract.js";
import { SqlHistoryStore } from "./history.sql.js";

historyContract("SQL (PGlite)", async () => {
  const stores = await openTestStores();
  return { history: new SqlHistoryStore(stores.db), cleanup: () => stores.close() };
});

it("keeps ANALYZE's sample of history small: targets of 10, none for the sealed content", async () => {
  const stores = await openTestStores();
  try {
    const messages = await statisticsTargets(stores.db, "messages");
    expect(Math.max(...Object.values(messages))).toBe(10);
    expect([messages.ciphertext, messages.nonce, messages.wrapped_key, messages.attachments]).toEqual([
      0, 0, 0, 0,
    ]);
    const claims = await statisticsTargets(stores.db, "client_messages");
    expect(Math.max(...Object.values(claims))).toBe(10);
    expect(claims.record).toBe(0);
  } finally {
    await stores.close();
  }
});
