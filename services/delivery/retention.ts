import type { Logger } from "../kit/logger.js";
import type { DeliveryStore } from "./store.js";

/**
 * Every `everyMs`, deletes inbox events older than `retentionMs` (never two sweeps at once);
 * stop() waits for a sweep in progress.
 */
export function startRetentionSweep(options: {
  store: Pick<DeliveryStore, "sweep">;
  retentionMs: number;
  everyMs: number;
  logger: Logger;
  now?: () => number;
}): { stop(): Promise<void> } {
  const now = options.now ?? Date.now;
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= options.store
      .sweep(new Date(now() - options.retentionMs))
      .then((removed) => {
        if (removed > 0) options.logger.info({ removed }, "retention sweep removed old inbox events");
      })
      .catch((err: unknown) => options.logger.warn({ err }, "retention sweep failed; the next one retries"))
      .finally(() => {
        sweeping = undefined;
      });
  }, options.everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
