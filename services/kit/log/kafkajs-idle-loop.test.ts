import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { fixKafkajsIdleLoop } from "./kafkajs-idle-loop.js";

interface Queue {
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
}
const RequestQueue = createRequire(import.meta.url)("kafkajs/src/network/requestQueue/index.js") as new (
  options: object,
) => Queue;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe("kafkajs's request queue, fixed", () => {
  it("arms no timer when nothing is pending (kafkajs armed a 1 ms one, again and again)", () => {
    fixKafkajsIdleLoop();
    const queue = new RequestQueue({
      maxInFlightRequests: 1,
      requestTimeout: 30_000,
      clientId: "t",
      broker: "b",
      logger: silent,
    });
    try {
      // What every completed request does.
      queue.checkPendingRequests();
      expect(queue.throttleCheckTimeoutId).toBeNull();
    } finally {
      queue.destroy();
    }
  });

  it("still checks again later while requests wait", () => {
    fixKafkajsIdleLoop();
    const queue = new RequestQueue({
      maxInFlightRequests: 1,
      requestTimeout: 30_000,
      clientId: "t",
      broker: "b",
      logger: silent,
    });
    try {
      queue.pending.push({ correlationId: 1 });
      queue.scheduleCheckPendingRequests();
      expect(queue.throttleCheckTimeoutId).not.toBeNull();
    } finally {
      queue.destroy();
    }
  });
});
