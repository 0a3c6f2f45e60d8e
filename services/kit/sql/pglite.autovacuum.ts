import type { Logger } from "../logger.js";
import type { SqlDatabase } from "./database.js";

/**
 * PostgreSQL's autovacuum, for PGlite. An embedded PostgreSQL runs no background workers, so its
 * tables were never analyzed or vacuumed: plans cached while a table was empty (PL/pgSQL caches a
 * generic plan after five calls) stayed in use as it grew, and delivery's inbox_append went from
 * 1.3 to 5.6 ms per call over its first 16,000 events, growing without end; dead row versions
 * (inbox heads, consumer offsets, receipt markers are updated all the time) were never reclaimed.
 *
 * Every interval, a pass reads each table's activity and runs what autovacuum would run, by
 * PostgreSQL's default thresholds, one table per statement (the database's other callers get in
 * between). An ANALYZE also invalidates the cached plans of the table, so they are made again
 * with its statistics.
 */
export const AUTOVACUUM_INTERVAL_MS = 30_000;

export interface TableActivity {
  name: string;
  live: number;
  dead: number;
  modifiedSinceAnalyze: number;
  insertedSinceVacuum: number;
}

/** What autovacuum would run on the table now (autovacuum_*_threshold and _scale_factor defaults). */
export function maintenanceOf(t: TableActivity): "VACUUM (ANALYZE)" | "VACUUM" | "ANALYZE" | undefined {
  const vacuum = t.dead > 50 + 0.2 * t.live || t.insertedSinceVacuum > 1000 + 0.2 * t.live;
  const analyze = t.modifiedSinceAnalyze > 50 + 0.1 * t.live;
  if (vacuum && analyze) return "VACUUM (ANALYZE)";
  if (vacuum) return "VACUUM";
  if (analyze) return "ANALYZE";
  return undefined;
}

// The statistics a backend collects reach these views at most once a second; forcing the flush
// at the end of the first statement makes the second read everything done so far.
const FLUSH = "SELECT pg_stat_force_next_flush()";
const ACTIVITY = `
  SELECT format('%I.%I', schemaname, relname) AS name, n_live_tup AS live, n_dead_tup AS dead,
         n_mod_since_analyze AS modified, n_ins_since_vacuum AS inserted
  FROM pg_stat_user_tables ORDER BY name`;

type Db = Pick<SqlDatabase, "query" | "exec">;

/** One pass over the database's tables; returns the statements it ran. */
export async function autovacuumPass(db: Db): Promise<string[]> {
  await db.query(FLUSH);
  const rows = await db.query<{
    name: string;
    live: string;
    dead: string;
    modified: string;
    inserted: string;
  }>(ACTIVITY);
  const ran: string[] = [];
  for (const row of rows) {
    const what = maintenanceOf({
      name: row.name,
      live: Number(row.live),
      dead: Number(row.dead),
      modifiedSinceAnalyze: Number(row.modified),
      insertedSinceVacuum: Number(row.inserted),
    });
    if (!what) continue;
    const statement = `${what} ${row.name}`;
    await db.exec(statement);
    ran.push(statement);
  }
  return ran;
}

/** Runs a pass every `intervalMs` until stopped; `stop()` waits for a pass under way. */
export function startAutovacuum(
  db: Db,
  options: { store: string; logger?: Logger; intervalMs?: number },
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= autovacuumPass(db)
      .then(
        (ran) => {
          if (ran.length > 0) options.logger?.debug({ store: options.store, ran }, "autovacuum");
        },
        (err: unknown) => options.logger?.warn({ err, store: options.store }, "autovacuum pass failed"),
      )
      .finally(() => {
        running = undefined;
      });
  }, options.intervalMs ?? AUTOVACUUM_INTERVAL_MS).unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
