import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_RUNTIME_FLAGS } from "../services/kit/runtime-flags.js";

/** An all-in-one Parley in its own process (so the load generator does not share its event loop). */
export async function spawnParley(
  env: Record<string, string> = {},
  options: { readyTimeoutMs?: number } = {},
): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "parley-bench-"));
  const port = 18080 + Math.floor(Math.random() * 1000);
  const child: ChildProcess = spawn("tsx", [...NODE_RUNTIME_FLAGS, "services/main.ts"], {
    env: {
      ...process.env,
      PORT: String(port),
      PARLEY_ADMIN_PORT: "0",
      PARLEY_BIND_HOST: "127.0.0.1",
      PARLEY_DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  // If the benchmark itself is stopped, do not leave Parley running behind it.
  const killChild = () => child.kill("SIGTERM");
  process.once("exit", killChild);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killChild();
      process.exit(130);
    });
  }
  const url = `http://127.0.0.1:${port}`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`parley exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`parley did not become ready in ${readyTimeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The Parley a load benchmark drives: the running one at PARLEY_URL, or an all-in-one of its own.
 * The send and login limits protect a real deployment; a benchmark sends far above them from one
 * address (a running Parley must be started with them raised).
 */
export async function benchTarget(): Promise<{ url: string; external: boolean; stop(): Promise<void> }> {
  const url = process.env.PARLEY_URL;
  if (url) return { url, external: true, stop: async () => {} };
  const spawned = await spawnParley({
    PARLEY_MESSAGES_SEND_LIMIT: "1000000",
    PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS: "100000",
  });
  return { ...spawned, external: false };
}
