// Test fixtures (imported by *.test.ts only): CQL history on the real Cassandra the test setup
// started, in a keyspace of its own that is dropped afterwards.
import { randomBytes } from "node:crypto";
import { Client } from "cassandra-driver";
import { realServerSetting } from "../../test/real-servers.js";
import type { CqlHistoryConfig } from "./history.cql.client.js";

export function testCqlConfig(overrides: Partial<CqlHistoryConfig> = {}): CqlHistoryConfig {
  return {
    contactPoints: realServerSetting("PARLEY_TEST_CQL_CONTACT_POINTS").split(","),
    localDc: realServerSetting("PARLEY_TEST_CQL_LOCAL_DC"),
    keyspace: `parley_test_${randomBytes(6).toString("hex")}`,
    replication: { class: "SimpleStrategy", replicationFactor: 1 },
    bucketDays: 30,
    requestTimeoutMs: 5000,
    ...overrides,
  };
}

/** A plain client on the test server, for looking behind the store and dropping its keyspace. */
export async function openAdminClient(config: CqlHistoryConfig): Promise<Client> {
  const client = new Client({ contactPoints: config.contactPoints, localDataCenter: config.localDc });
  await client.connect();
  return client;
}

export async function dropKeyspace(config: CqlHistoryConfig): Promise<void> {
  const client = await openAdminClient(config);
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${config.keyspace}`);
  } finally {
    await client.shutdown();
  }
}
