import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryServiceClient } from "../services/gen/grpc/parley/internal/v1/delivery.js";
import { PresenceServiceClient } from "../services/gen/grpc/parley/internal/v1/presence.js";
import { call, createClient } from "../services/kit/grpc/client.js";
import { deleteTestTopics, testBrokers } from "../services/kit/log/log.kafka.testing.js";
import { sharedRedisUrl } from "../services/kit/redis.fixture.js";
import { type FreshPostgres, openFreshPostgres } from "../services/kit/sql/database.pg.fixture.js";
import { eventually } from "../services/kit/testing/eventually.js";
import { newUser, restClient, type TestUser } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { RecordingNode } from "./push-node.js";

/**
 * Delivery on the production components, in one process: its inboxes in PostgreSQL, the log on
 * Kafka (topics under a prefix of this test's own), presence in Redis. A message sent over REST
 * is in both inboxes and pushed to a node registered in Redis.
 */
describe("delivery on PostgreSQL, Kafka and Redis", () => {
  let parley: TestParley;
  let database: FreshPostgres;
  let node: RecordingNode;
  let delivery: DeliveryServiceClient;
  let presence: PresenceServiceClient;
  const prefix = `test.${randomUUID()}.`;

  beforeAll(async () => {
    database = await openFreshPostgres("delivery");
    parley = await startTestParley({
      env: {
        PARLEY_DELIVERY_DATABASE_URL: database.url,
        PARLEY_KAFKA_BROKERS: testBrokers().join(","),
        PARLEY_KAFKA_TOPIC_PREFIX: prefix,
        PARLEY_REDIS_URL: sharedRedisUrl(),
      },
    });
    delivery = createClient(DeliveryServiceClient, parley.parley.addresses.resolve("delivery"));
    presence = createClient(PresenceServiceClient, parley.parley.addresses.resolve("presence"));
    node = new RecordingNode();
    await node.start();
  }, 120_000);
  afterAll(async () => {
    delivery?.close();
    presence?.close();
    node?.stop();
    await parley?.cleanup();
    await database?.close();
    await deleteTestTopics(prefix);
  });

  it("fans a message out to both inboxes in PostgreSQL and pushes it to the node Redis knows", async () => {
    const api = restClient(parley.url);
    const [alice, bob] = (await Promise.all([newUser(api, "alice"), newUser(api, "bob")])) as [
      TestUser,
      TestUser,
    ];
    const nodeId = `node-${randomUUID()}`;
    await call(presence, "registerNode", { nodeId, pushAddress: node.address, ttlSeconds: 60 });
    await call(presence, "heartbeatStreams", {
      nodeId,
      ttlSeconds: 60,
      streams: [{ userId: bob.userId, streamId: "phone" }],
    });
    const redis = new Redis(sharedRedisUrl());
    try {
      expect(await redis.get(`parley:presence-node:${nodeId}`)).toBe(node.address);
    } finally {
      await redis.quit();
    }

    const sent = await api.post(
      "/chat/send",
      { recipient: bob.username, message: "over kafka" },
      alice.token,
    );
    expect(sent.status).toBe(200);
    const pushed = await node.next((e) => e.event?.message?.message?.messageId === sent.body.messageId);
    expect(pushed).toMatchObject({ userId: bob.userId, seq: "1" });
    expect(pushed.event?.message?.message?.content).toBe("over kafka");

    for (const user of [alice, bob]) {
      await eventually(
        async () =>
          (await call(delivery, "replay", { userId: user.userId, afterSeq: "0", limit: 10 })).events
            .length === 1,
        10_000,
      );
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT user_id, seq FROM inbox ORDER BY user_id");
      expect(rows.map((r) => [r.user_id, Number(r.seq)])).toEqual(
        [
          [alice.userId, 1],
          [bob.userId, 1],
        ].sort(),
      );
      // The inbox keeps the sealed record: no plaintext in the database.
      const { rows: payloads } = await client.query("SELECT payload FROM delivery_events");
      expect(payloads.some((r) => Buffer.from(r.payload).includes("over kafka"))).toBe(false);
    } finally {
      await client.end();
    }
  });
});
