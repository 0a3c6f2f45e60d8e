import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../../scripts/mesh/plan.js";
import { type PrivateServer, startPrivateKafka } from "../../../test/private-servers.js";
import { KafkaResponseLoser } from "./kafka-proxy.testing.js";
import { KafkaLog } from "./log.kafka.js";
import { testKafkaOptions } from "./log.kafka.testing.js";

/**
 * A broker of this file's own behind a proxy that can lose produce responses: the broker appends,
 * the client hears nothing. This is what a broker killed right after an append looks like, made
 * deterministic.
 */
let kafka: PrivateServer;
let proxy: KafkaResponseLoser | undefined;
let log: KafkaLog;

beforeAll(async () => {
  const proxyPort = (await freePorts()).public;
  kafka = await startPrivateKafka({
    advertisedPort: proxyPort,
    beforeStart: async (brokerPort) => {
      proxy = await KafkaResponseLoser.start(proxyPort, brokerPort);
    },
  });
  log = await KafkaLog.open(testKafkaOptions({ brokers: [kafka.address], appendTimeoutMs: 10_000 }));
}, 180_000);

afterAll(async () => {
  await log?.close();
  await proxy?.stop();
  await kafka?.remove();
}, 60_000);

const text = (value: Uint8Array) => Buffer.from(value).toString("utf8");

describe("an append whose produce response was lost", () => {
  it("fails, and the next append of the same size is stored, not taken for a retry of the lost one", async () => {
    const topic = "lost-response";
    const append = (value: string) => log.append(topic, [{ key: "c1", value: Buffer.from(value) }]);
    await append("before");

    const loser = proxy as KafkaResponseLoser;
    loser.loseProduceResponses = true;
    await expect(append("response lost")).rejects.toThrow();
    expect(loser.lost, "produce responses the proxy dropped").toBeGreaterThan(0);
    loser.loseProduceResponses = false;

    // One record again, to the same partition: under the failed session's sequence numbers this
    // request would look exactly like a retry of the lost one.
    const [after] = await append("after");
    const records = await log.readUncommitted(topic, "nobody-committed");
    expect(records.map((r) => text(r.value))).toEqual(["before", "response lost", "after"]);
    expect(records.at(-1)?.offset).toBe(after?.offset);
  }, 60_000);
});
