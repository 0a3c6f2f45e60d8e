import { openFreshPostgres } from "../kit/sql/database.pg.fixture.js";
import { migrate } from "../kit/sql/migrations.js";
import { historyContract } from "./history.contract.js";
import { MIGRATIONS_DIR, SqlHistoryStore } from "./history.sql.js";

// The SQL history store is the embedded default, but the messages database may be PostgreSQL
// (PARLEY_MESSAGES_DATABASE_URL) with no CQL store configured: then history lives there.
historyContract("SQL (PostgreSQL)", async () => {
  const fresh = await openFreshPostgres("messages");
  await migrate(fresh.db, MIGRATIONS_DIR);
  return { history: new SqlHistoryStore(fresh.db), cleanup: fresh.close };
});
