import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOPICS } from "../services/kit/log/log.js";
import { deleteTestTopics, testKafkaAdmin } from "../services/kit/log/log.kafka.testing.js";
import { newUser, restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { realServerSetting } from "./real-servers.js";
import { restScenarios } from "./rest.scenarios.js";

/**
 * The foundation's REST walk, unchanged, on all-in-one Parley whose message log is the real Kafka
 * (topics under a prefix of this file's own): sends are acknowledged by Kafka, the persister and
 * group events run on it, and history reads see the tail the persister has not written yet.
 */
describe("Parley on Kafka", () => {
  const prefix = `e2e.${randomUUID()}.`;
  let parley: TestParley;

  beforeAll(async () => {
    parley = await startTestParley({
      env: {
        PARLEY_KAFKA_BROKERS: realServerSetting("PARLEY_TEST_KAFKA_BROKERS"),
        PARLEY_KAFKA_TOPIC_PREFIX: prefix,
        PARLEY_KAFKA_PARTITIONS: "3",
      },
    });
  });
  afterAll(async () => {
    await parley?.cleanup();
    await deleteTestTopics(prefix);
  });

  restScenarios(() => ({ url: parley.url, adminUrl: `http://127.0.0.1:${parley.parley.adminPort}` }));

  it("reads every acknowledged send back at once, in order, from a burst of sends", async () => {
    const api = restClient(parley.url);
    const [ann, ben] = await Promise.all([newUser(api, "ann"), newUser(api, "ben")]);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await api.post("/chat/send", { recipient: ben.username, message: `m${i}` }, ann.token);
      expect(res.status).toBe(200);
      sent.push(res.body.messageId);
      const page = await api.get(`/chat/messages?recipient=${ann.username}`, ben.token);
      expect(page.status).toBe(200);
      expect(page.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual(sent);
    }
    const admin = testKafkaAdmin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(`${prefix}${TOPICS.messages}`);
      expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBeGreaterThanOrEqual(20);
    } finally {
      await admin.disconnect();
    }
  });
});
