import { Client } from "cassandra-driver";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { messageIdAt, sealedRecord } from "./fixtures.js";
import { historyContract } from "./history.contract.js";
import { dropKeyspace, openAdminClient, testCqlConfig } from "./history.cql.fixtures.js";
import { CqlHistoryStore } from "./history.cql.js";

historyContract("CQL (Cassandra)", async () => {
  const config = testCqlConfig();
  const history = await CqlHistoryStore.open(config);
  return {
    history,
    async cleanup() {
      await history.close();
      await dropKeyspace(config);
    },
  };
});

describe("the CQL history keyspace", () => {
  const config = testCqlConfig({ bucketDays: 7 });
  let store: CqlHistoryStore;
  beforeAll(async () => {
    store = await CqlHistoryStore.open(config);
  });
  afterAll(async () => {
    await store?.close();
    await dropKeyspace(config);
  });

  it("is created with its tables and records each migration once, however often it is opened", async () => {
    await (await CqlHistoryStore.open(config)).close();
    const admin = await openAdminClient(config);
    try {
      const migrations = await admin.execute(
        `SELECT version, name FROM ${config.keyspace}.schema_migrations`,
      );
      expect(migrations.rows.map((r) => [r.version, r.name])).toEqual([
        [1, "history"],
        [2, "attachments"],
      ]);
      const tables = await admin.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
        [config.keyspace],
      );
      expect(tables.rows.map((r) => r.table_name).sort()).toEqual([
        "conversation_buckets",
        "direct_buckets",
        "direct_messages_by_user",
        "history_settings",
        "messages_by_conversation",
        "schema_migrations",
      ]);
      const keyspace = await admin.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
        [config.keyspace],
      );
      expect(keyspace.first()?.replication).toMatchObject({
        class: expect.stringMatching(/SimpleStrategy$/),
      });
    } finally {
      await admin.shutdown();
    }
  });

  it("refuses to open with another bucket span than the one its history was written with", async () => {
    await expect(CqlHistoryStore.open({ ...config, bucketDays: 30 })).rejects.toThrow(
      /PARLEY_MESSAGES_CQL_BUCKET_DAYS is 30 .* bucketed by 7 days/,
    );
  });

  it("puts a message in the bucket of its id's time", () => {
    const week = 7 * 86_400_000;
    expect(store.bucketOf("0192a3b4-c5d6-7000-8000-000000000000")).toBe(Math.floor(0x0192a3b4c5d6 / week));
  });

  it("reads a conversation's bucket index and its newest bucket at once when it was opened before", async () => {
    const conversationId = `d:opened-${Date.now()}`;
    const people = { conversationId, senderId: "opener-a", recipientId: "opener-b" };
    await store.write([sealedRecord(messageIdAt(Date.now() - 1000), people)]);
    let inFlight = 0;
    let most = 0;
    const execute = Client.prototype.execute;
    const spy = vi.spyOn(Client.prototype, "execute").mockImplementation(function (this: Client, ...args) {
      inFlight++;
      most = Math.max(most, inFlight);
      const answer = (execute as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      return answer.finally(() => inFlight--) as never;
    });
    try {
      const opened = async () => {
        most = 0;
        expect(await store.conversationPage(conversationId, { limit: 50 })).toHaveLength(1);
        return most;
      };
      // The first time the index names the bucket; from then on both go out together.
      expect(await opened()).toBe(1);
      expect(await opened()).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });
});
