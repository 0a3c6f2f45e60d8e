import { createRequire } from "node:module";

/** The part of kafkajs's RequestQueue (src/network/requestQueue) the fix below touches. */
interface RequestQueue {
  pending: unknown[];
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
}

let fixed = false;

/**
 * Stops kafkajs 2.2.4's idle busy loop (tulios/kafkajs#1556, #1704; fixes #1667 and #1768 are
 * unmerged, the project unmaintained). Every request completion calls checkPendingRequests, which
 * schedules itself again even with nothing pending, at `throttledUntil - now` = -1 - now: a
 * negative delay, so Node runs it after 1 ms — forever, per broker connection. A mesh process with
 * Kafka clients burned 30 % of a core doing nothing (and Node ≥ 24 printed TimeoutNegativeWarning).
 * With nothing pending there is nothing to check: push() schedules a check when it queues a request.
 * Idempotent; patches the class every kafkajs client in the process uses.
 */
export function fixKafkajsIdleLoop(): void {
  if (fixed) return;
  fixed = true;
  const require = createRequire(import.meta.url);
  const queue = require("kafkajs/src/network/requestQueue/index.js") as { prototype: RequestQueue };
  const schedule = queue.prototype.scheduleCheckPendingRequests;
  queue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0) return;
    schedule.call(this);
  };
}
