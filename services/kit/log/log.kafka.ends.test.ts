import { connect } from "node:net";
import { type Admin, Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogEnds } from "./log.kafka.ends.js";
import type { KafkaLog } from "./log.kafka.js";
import {
  deleteTestTopics,
  openTestKafkaLog,
  testBrokers,
  testKafkaAdmin,
  testKafkaOptions,
} from "./log.kafka.testing.js";

/** Kafka's API keys, as the first field of every request header. */
const METADATA = 3;
const LIST_OFFSETS = 2;

/**
 * A kafkajs client whose sockets note the API key of every request they carry (kafkajs writes
 * each request as one buffer: its size, then the header), so a test can count round trips.
 */
function countingKafka(sent: number[]): Kafka {
  return new Kafka({
    clientId: "parley-tests",
    brokers: testBrokers(),
    logLevel: logLevel.NOTHING,
    socketFactory: ({ host, port, onConnect }) => {
      const socket = connect({ host, port }, onConnect);
      const write = socket.write.bind(socket) as (chunk: Buffer, ...rest: unknown[]) => boolean;
      socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= 6) sent.push(chunk.readInt16BE(4));
        return write(chunk, ...rest);
      }) as typeof socket.write;
      return socket;
    },
  });
}

const count = (sent: number[], apiKey: number) => sent.filter((k) => k === apiKey).length;

describe("LogEnds: where a topic's partitions end", () => {
  const options = testKafkaOptions({ partitions: 3 });
  const topic = `${options.topicPrefix}ends`;
  let log: KafkaLog;
  let admin: Admin;

  beforeAll(async () => {
    log = await openTestKafkaLog(options);
    admin = testKafkaAdmin();
    await admin.connect();
    // Records on some partitions only: keys spread over the three.
    await log.append(
      "ends",
      ["a", "b", "c", "d", "e", "f", "g"].map((key) => ({ key, value: Buffer.from(key) })),
    );
  });
  afterAll(async () => {
    await admin.disconnect();
    await log.close();
    await deleteTestTopics(options.topicPrefix);
  });

  it("gives every partition's end as Kafka's admin gives it, and a later append moves it", async () => {
    const ends = await LogEnds.connect(countingKafka([]));
    try {
      const highs = async () =>
        new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
      expect(await ends.of(topic)).toEqual(await highs());
      expect([...(await ends.of(topic)).values()].reduce((a, b) => a + b)).toBe(7n);

      const [appended] = await log.append("ends", [{ key: "a", value: Buffer.from("again") }]);
      const partition = appended?.partition as number;
      const moved = await ends.of(topic, [partition]);
      expect(moved).toEqual(new Map([[partition, (appended?.offset as bigint) + 1n]]));
      expect(await ends.of(topic)).toEqual(await highs());
    } finally {
      await ends.disconnect();
    }
  });

  it("asks one ListOffsets per read once it knows the leaders, never Metadata again", async () => {
    const sent: number[] = [];
    const ends = await LogEnds.connect(countingKafka(sent));
    try {
      await ends.of(topic, [0]);
      sent.length = 0;
      for (let i = 0; i < 5; i++) await ends.of(topic, [i % 3]);
      expect(count(sent, LIST_OFFSETS)).toBe(5);
      expect(count(sent, METADATA)).toBe(0);
      expect(sent.length).toBe(5);
    } finally {
      await ends.disconnect();
    }
  });

  it("refuses, by name, a kafkajs without the Cluster factory it is written for", async () => {
    const other = new Kafka({ clientId: "parley-tests", brokers: testBrokers(), logLevel: logLevel.NOTHING });
    for (const symbol of Object.getOwnPropertySymbols(other)) {
      if (symbol.description === "private:Kafka:createCluster")
        delete (other as unknown as Record<symbol, unknown>)[symbol];
    }
    await expect(LogEnds.connect(other)).rejects.toThrow(/private:Kafka:createCluster.*kafkajs 2\.2\.4/);
  });

  it("asks for the leaders again after a failed read", async () => {
    const sent: number[] = [];
    const ends = await LogEnds.connect(countingKafka(sent));
    try {
      await ends.of(topic);
      await expect(ends.of(topic, [99]), "a partition the topic does not have").rejects.toThrow(
        /partitions 99/,
      );
      sent.length = 0;
      expect((await ends.of(topic, [1])).size).toBe(1);
      expect(count(sent, METADATA)).toBe(1);
      expect(count(sent, LIST_OFFSETS)).toBe(1);
    } finally {
      await ends.disconnect();
    }
  });
});
