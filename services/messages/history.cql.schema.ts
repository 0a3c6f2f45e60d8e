import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "cassandra-driver";
import { type Replication, replicationCql } from "./history.cql.replication.js";

/** The history keyspace's versioned migrations: NNN_name.cql, applied in order. */
export const CQL_MIGRATIONS_DIR = fileURLToPath(new URL("./cql", import.meta.url));

const FILE = /^(\d{3})_([a-z0-9_]+)\.cql$/;

/**
 * Creates the keyspace when missing (an existing one keeps its replication), makes it the
 * client's keyspace, and applies the migrations not yet recorded in its schema_migrations table.
 * Every statement is idempotent, so processes starting together (or one that died between a
 * statement and its record) apply a migration twice harmlessly; the record is a lightweight
 * transaction so it is written once.
 */
export async function migrateKeyspace(
  client: Client,
  keyspace: string,
  replication: Replication,
  dir = CQL_MIGRATIONS_DIR,
): Promise<string[]> {
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replicationCql(replication)}`,
  );
  // The driver switches every connection of the pool (and later ones) to this keyspace.
  await client.execute(`USE ${keyspace}`);
  await client.execute(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text, applied_at timestamp)",
  );
  const applied = new Set(
    (await client.execute("SELECT version FROM schema_migrations")).rows.map((r) => Number(r.version)),
  );
  const done: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => FILE.test(f))
    .sort()) {
    const [, version, name] = FILE.exec(file) as RegExpExecArray;
    if (applied.has(Number(version))) continue;
    for (const statement of statements(readFileSync(join(dir, file), "utf8"))) {
      await client.execute(statement);
    }
    await client.execute(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) IF NOT EXISTS",
      [Number(version), name, new Date()],
      { prepare: true },
    );
    done.push(file);
  }
  return done;
}

function statements(source: string): string[] {
  return source
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n")
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Fixes the bucket span on first use and refuses a different one later: rows are found by their
 * bucket, so changing the span would hide every message written before.
 */
export async function settleBucketDays(client: Client, bucketDays: number): Promise<void> {
  const result = await client.execute(
    "INSERT INTO history_settings (name, value) VALUES ('bucket_days', ?) IF NOT EXISTS",
    [String(bucketDays)],
    { prepare: true },
  );
  const row = result.first();
  if (row?.["[applied]"] === false && row.value !== String(bucketDays)) {
    throw new Error(
      `PARLEY_MESSAGES_CQL_BUCKET_DAYS is ${bucketDays} but this keyspace's history is bucketed by ${row.value} days; it cannot change once written`,
    );
  }
}
