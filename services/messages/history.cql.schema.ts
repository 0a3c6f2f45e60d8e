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
 * Every statement is idempotent — CREATE … IF NOT EXISTS, and `ALTER TABLE … ADD` is skipped when
 * the column is there already — so processes starting together (or one that died between a
 * statement and its record, or a schema made by hand) apply a migration twice harmlessly; the
 * record is a lightweight transaction so it is written once.
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
      const column = addedColumn(statement, keyspace, file);
      if (column) await addColumn(client, statement, column);
      else await client.execute(statement);
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

interface AddedColumn {
  keyspace: string;
  table: string;
  column: string;
  type: string;
}

const ALTER_ADD = /^ALTER\s+TABLE\s+(?:(\w+)\.)?(\w+)\s+ADD\s+(.+)$/is;
const COLUMN_AND_TYPE = /^(\w+)\s+(.+?)(?:\s+static)?$/is;

/**
 * The column an `ALTER TABLE … ADD <column> <type>` adds, or undefined for any other statement.
 * `ADD IF NOT EXISTS` needs Cassandra 4.1+ (and is missing from ScyllaDB releases), so migrations
 * write plain `ADD` of one unquoted column and the runner makes it idempotent.
 */
function addedColumn(statement: string, keyspace: string, file: string): AddedColumn | undefined {
  const alter = ALTER_ADD.exec(statement);
  if (!alter) return undefined;
  const [, ks, table, rest = ""] = alter;
  const column = /^IF\s/i.test(rest) ? undefined : COLUMN_AND_TYPE.exec(rest.trim());
  if (!column || !table) {
    throw new Error(
      `${file}: write ALTER TABLE … ADD as one unquoted column and its type, without IF NOT EXISTS (the migration runner skips a column that exists): ${statement}`,
    );
  }
  return {
    keyspace: (ks ?? keyspace).toLowerCase(),
    table: table.toLowerCase(),
    column: (column[1] ?? "").toLowerCase(),
    type: normalType(column[2] ?? ""),
  };
}

/**
 * Adds a column unless the table has it. A process starting at the same time may add it between
 * the look and the ALTER (which then fails), so a failure is checked against the schema again.
 * A column that exists with another type is an error: the data would not be what the code reads.
 */
async function addColumn(client: Client, statement: string, added: AddedColumn): Promise<void> {
  if (await hasColumn(client, added)) return;
  try {
    await client.execute(statement);
  } catch (err) {
    if (!(await hasColumn(client, added))) throw err;
  }
}

async function hasColumn(client: Client, added: AddedColumn): Promise<boolean> {
  const row = (
    await client.execute(
      "SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
      [added.keyspace, added.table, added.column],
      { prepare: true },
    )
  ).first();
  if (!row) return false;
  if (normalType(String(row.type)) !== added.type) {
    throw new Error(
      `${added.table}.${added.column} exists with type ${row.type}, but the migration adds it as ${added.type}`,
    );
  }
  return true;
}

const normalType = (type: string) => type.replace(/\s+/g, "").toLowerCase();

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
