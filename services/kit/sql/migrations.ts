import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SqlDatabase } from "./database.js";

const FILE = /^(\d+)_[\w-]+\.sql$/;

// Held (per database) by whichever replica is migrating; any fixed number unused elsewhere.
const MIGRATION_LOCK = 7_001_000;
const TAKE_LOCK = `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;

/**
 * Applies `dir`'s numbered .sql files that have not run yet, in order, each in its own
 * transaction, recording them in schema_migrations. The same files run on PGlite and PostgreSQL.
 * Replicas starting at once take turns: every step holds a transaction-scoped advisory lock (a
 * session lock would need one pooled connection throughout) and re-checks the version under it,
 * so each file runs once and a replica that waited sees it applied.
 */
export async function migrate(db: SqlDatabase, dir: string): Promise<number[]> {
  await db.transaction(async (tx) => {
    await tx.query(TAKE_LOCK);
    await tx.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
  });
  const files = readdirSync(dir)
    .filter((name) => FILE.test(name))
    .map((name) => ({ name, version: Number(FILE.exec(name)?.[1]) }))
    .sort((a, b) => a.version - b.version);
  const applied = new Set(
    (await db.query<{ version: number }>("SELECT version FROM schema_migrations")).map((row) => row.version),
  );
  const ran: number[] = [];
  for (const file of files) {
    if (applied.has(file.version)) continue;
    const sql = readFileSync(join(dir, file.name), "utf8");
    const applies = await db.transaction(async (tx) => {
      await tx.query(TAKE_LOCK);
      const done = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [file.version]);
      if (done.length > 0) return false;
      for (const statement of splitStatements(sql)) await tx.query(statement);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
        file.version,
        file.name,
      ]);
      return true;
    });
    if (applies) ran.push(file.version);
  }
  return ran;
}

/** Migrations hold plain DDL: statements end with a semicolon at the end of a line. */
/**
 * A file's statements: each ends with ";" at the end of a line, except inside a dollar-quoted
 * body ($$ … $$: a function's), whose own statements end lines with ";" too.
 */
function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  let quoted = false;
  for (const line of sql.split("\n")) {
    current.push(line);
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) quoted = !quoted;
    if (!quoted && /;\s*$/.test(line)) {
      statements.push(current.join("\n").replace(/;\s*$/, ""));
      current = [];
    }
  }
  statements.push(current.join("\n"));
  return statements.map((s) => s.replace(/^\s*--.*$/gm, "").trim()).filter(Boolean);
}
