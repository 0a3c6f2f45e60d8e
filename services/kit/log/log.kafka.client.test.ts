import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createKafka } from "./log.kafka.client.js";

/** A logger at debug whose lines are kept as objects. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

describe("kafkajs's own log lines", () => {
  it("logs the bounded-retries notice of the idempotent producer at debug; other warnings stay warnings", () => {
    const { logger, lines } = capturingLogger();
    // No broker is contacted: creating a producer logs the notice at once.
    const kafka = createKafka({ brokers: ["127.0.0.1:1"], clientId: "t", logger, purpose: "produce" });
    kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    kafka.logger().warn("something an operator should see");
    const levelOf = (start: string) => lines.find((line) => line.msg.startsWith(start))?.level;
    expect(levelOf("Limiting retries for the idempotent producer")).toBe(20);
    expect(levelOf("something an operator should see")).toBe(40);
  });
});
