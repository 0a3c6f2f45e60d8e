import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { type RunningParley, startParley } from "../services/app.js";

export interface TestParley {
  url: string;
  dataDir: string;
  parley: RunningParley;
  /** Stops this instance (the data folder stays until `cleanup`). */
  stop(): Promise<void>;
  /** Starts a new instance on the same data folder. */
  restart(): Promise<TestParley>;
  cleanup(): Promise<void>;
}

/** Starts an all-in-one Parley on loopback, port 0, in a fresh (or given) data folder. */
export async function startTestParley(
  options: {
    dataDir?: string;
    env?: Record<string, string>;
    spanProcessors?: SpanProcessor[];
    target?: string;
  } = {},
): Promise<TestParley> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "parley-test-"));
  const parley = await startParley({
    target: options.target ?? "all",
    spanProcessors: options.spanProcessors,
    env: {
      ...process.env,
      PORT: "0",
      PARLEY_ADMIN_PORT: "0",
      PARLEY_BIND_HOST: "127.0.0.1",
      PARLEY_DATA_DIR: dataDir,
      LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
      ...options.env,
    },
  });
  let stopped = false;
  const instance: TestParley = {
    url: `http://127.0.0.1:${parley.port}`,
    dataDir,
    parley,
    async stop() {
      if (stopped) return;
      stopped = true;
      await parley.stop();
    },
    async restart() {
      await instance.stop();
      return startTestParley({ ...options, dataDir });
    },
    async cleanup() {
      await instance.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return instance;
}
