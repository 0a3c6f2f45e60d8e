import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "cassandra-driver";
import { afterEach, describe, expect, it } from "vitest";
import type { CqlHistoryConfig } from "./history.cql.client.js";
import { dropKeyspace, openAdminClient, testCqlConfig } from "./history.cql.fixtures.js";
import { CQL_MIGRATIONS_DIR, migrateKeyspace } from "./history.cql.schema.js";

const BOTH_FILES = ["001_history.cql", "002_attachments.cql"];

describe("CQL migrations on the real Cassandra", () => {
  const opened: { config: CqlHistoryConfig; clients: Client[] }[] = [];
  afterEach(async () => {
    for (const { config, clients } of opened.splice(0)) {
      for (const client of clients) await client.shutdown();
      await dropKeyspace(config);
    }
  });

  /** A keyspace name of its own and `count` plain clients (a client is switched to the keyspace). */
  const keyspace = async (count = 1) => {
    const config = testCqlConfig();
    const clients = await Promise.all(Array.from({ length: count }, () => openAdminClient(config)));
    opened.push({ config, clients });
    return {
      config,
      clients,
      migrate: (client = clients[0] as Client, dir?: string) =>
        migrateKeyspace(client, config.keyspace, config.replication, dir),
    };
  };

  const recorded = async (client: Client, ks: string) =>
    (await client.execute(`SELECT version, name, applied_at FROM ${ks}.schema_migrations`)).rows
      .map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at.getTime() }))
      .sort((a, b) => a.version - b.version);

  const attachmentColumns = async (client: Client, ks: string) =>
    (
      await client.execute(
        "SELECT table_name, column_name, type FROM system_schema.columns WHERE keyspace_name = ?",
        [ks],
        { prepare: true },
      )
    ).rows
      .filter((r) => r.column_name === "attachments")
      .map((r) => `${r.table_name}.attachments ${r.type}`)
      .sort();

  it("migrates a fresh keyspace, adding the attachments column to both message tables", async () => {
    const { config, clients, migrate } = await keyspace();
    const [client] = clients as [Client];
    expect(await migrate()).toEqual(BOTH_FILES);
    expect(await attachmentColumns(client, config.keyspace)).toEqual([
      "direct_messages_by_user.attachments blob",
      "messages_by_conversation.attachments blob",
    ]);
    expect((await recorded(client, config.keyspace)).map((r) => [r.version, r.name])).toEqual([
      [1, "history"],
      [2, "attachments"],
    ]);
  });

  it("does nothing when run again: no file re-applied, no record rewritten", async () => {
    const { config, clients, migrate } = await keyspace();
    const [client] = clients as [Client];
    await migrate();
    const before = await recorded(client, config.keyspace);
    expect(await migrate()).toEqual([]);
    expect(await recorded(client, config.keyspace)).toEqual(before);
  });

  it("applies 002 without error where its columns exist but it was not recorded", async () => {
    const { config, clients, migrate } = await keyspace();
    const [client] = clients as [Client];
    await migrate();
    await client.execute(`DELETE FROM ${config.keyspace}.schema_migrations WHERE version = 2`);
    expect(await migrate()).toEqual(["002_attachments.cql"]);
    expect((await recorded(client, config.keyspace)).map((r) => r.version)).toEqual([1, 2]);
    expect(await attachmentColumns(client, config.keyspace)).toHaveLength(2);
  });

  it("adopts a keyspace made by hand from the same files (nothing recorded)", async () => {
    const { config, clients, migrate } = await keyspace();
    const [client] = clients as [Client];
    await client.execute(
      `CREATE KEYSPACE ${config.keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
    );
    await client.execute(`USE ${config.keyspace}`);
    // What `cqlsh -k <keyspace> -f` runs: every statement of both files, once.
    for (const file of BOTH_FILES) {
      for (const statement of readFileSync(join(CQL_MIGRATIONS_DIR, file), "utf8")
        .replace(/^\s*--.*$/gm, "")
        .split(";")
        .map((s) => s.trim())
        .filter(Boolean)) {
        await client.execute(statement);
      }
    }
    expect(await migrate()).toEqual(BOTH_FILES);
    expect(await attachmentColumns(client, config.keyspace)).toHaveLength(2);
  });

  it("lets two processes migrate a fresh keyspace at once", async () => {
    const { config, clients, migrate } = await keyspace(2);
    const runs = await Promise.all(clients.map((client) => migrate(client)));
    expect(runs.every((files) => files.every((f) => BOTH_FILES.includes(f)))).toBe(true);
    expect(await attachmentColumns(clients[0] as Client, config.keyspace)).toHaveLength(2);
    expect((await recorded(clients[0] as Client, config.keyspace)).map((r) => r.version)).toEqual([1, 2]);
  });

  it("survives another process adding the column between its look and its ALTER", async () => {
    const { clients, migrate } = await keyspace(2);
    const [first, other] = clients as [Client, Client];
    const dir = mkdtempSync(join(tmpdir(), "parley-cql-migrations-"));
    try {
      writeFileSync(join(dir, "001_table.cql"), "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);");
      await migrate(other, dir);
      writeFileSync(join(dir, "002_column.cql"), "ALTER TABLE t ADD c blob;");
      // Interleaving injection: `other` runs each ALTER just before `first` does, so `first`
      // looked, found no column, and its own ALTER meets one (statements go to the real server).
      const interleaved = new Proxy(first, {
        get(target, prop) {
          if (prop === "execute") {
            return async (query: string, ...rest: unknown[]) => {
              if (/^ALTER TABLE/i.test(query)) await other.execute(query);
              return (target.execute as (q: string, ...r: unknown[]) => unknown)(query, ...rest);
            };
          }
          const value = Reflect.get(target, prop, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      expect(await migrate(interleaved, dir)).toEqual(["002_column.cql"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a column that exists with another type, and ADD IF NOT EXISTS, recording neither", async () => {
    const { config, clients, migrate } = await keyspace();
    const [client] = clients as [Client];
    const dir = mkdtempSync(join(tmpdir(), "parley-cql-migrations-"));
    try {
      writeFileSync(join(dir, "001_table.cql"), "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, c text);");
      writeFileSync(join(dir, "002_retyped.cql"), "-- c is text already\nALTER TABLE t ADD c blob;");
      await expect(migrate(client, dir)).rejects.toThrow(
        /t\.c exists with type text, but the migration adds it as blob/,
      );
      rmSync(join(dir, "002_retyped.cql"));
      writeFileSync(join(dir, "002_portable.cql"), "ALTER TABLE t ADD IF NOT EXISTS d blob;");
      await expect(migrate(client, dir)).rejects.toThrow(/002_portable\.cql: .*without IF NOT EXISTS/);
      expect((await recorded(client, config.keyspace)).map((r) => r.version)).toEqual([1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
