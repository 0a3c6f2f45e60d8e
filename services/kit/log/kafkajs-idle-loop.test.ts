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

/** A queue of one broker connection, as kafkajs makes them, with the fix applied. */
function fixedQueue(): Queue {
  fixKafkajsIdleLoop();
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    clientId: "t",
    broker: "b",
    logger: silent,
  });
}

describe("kafkajs's request queue, fixed", () => {
  it("arms no timer when nothing is pending (kafkajs armed a 1 ms one, again and again)", () => {
    const queue = fixedQueue();
    try {
      // What every completed request does.
      queue.checkPendingRequests();
      expect(queue.throttleCheckTimeoutId).toBeNull();
    } finally {
      queue.destroy();
    }
  });

  it("still checks again later while requests wait", () => {
    const queue = fixedQueue();
    try {
      queue.pending.push({ correlationId: 1 });
      queue.scheduleCheckPendingRequests();
      expect(queue.throttleCheckTimeoutId).not.toBeNull();
    } finally {
      queue.destroy();
    }
  });
});
