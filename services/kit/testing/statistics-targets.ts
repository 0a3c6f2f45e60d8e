import type { SqlDatabase } from "../sql/database.js";

/**
 * Each column's statistics target in `table` as ANALYZE uses it (a column's own, else
 * default_statistics_target). ANALYZE samples 300 rows per unit of the largest of them.
 * PostgreSQL 17 stores the default as NULL, earlier versions as -1.
 */
export async function statisticsTargets(
  db: Pick<SqlDatabase, "query">,
  table: string,
): Promise<Record<string, number>> {
  const rows = await db.query<{ column: string; target: number }>(
    `SELECT attname AS column,
            COALESCE(NULLIF(attstattarget, -1), current_setting('default_statistics_target')::int)::int AS target
     FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [table],
  );
  return Object.fromEntries(rows.map((row) => [row.column, row.target]));
}
