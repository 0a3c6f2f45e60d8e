// Test fixture (imported by *.test.ts only): Redis connections to the shared test server, and a
// private redis-server that a fault test may kill without disturbing the other tests.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { realServerSetting } from "../../test/real-servers.js";

export const sharedRedisUrl = () => realServerSetting("PARLEY_TEST_REDIS_URL");

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (typeof address !== "object" || !address) throw new Error("no port");
  return address.port;
}

/** Resolves once a server on `port` answers PING, failing after `ms`. */
async function answers(port: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === "PONG") return;
    } catch {
      if (performance.now() > deadline) throw new Error(`redis-server on ${port} did not answer in ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export interface PrivateRedis {
  url: string;
  /** kill -9: the server vanishes mid-conversation, as a crashed node would. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps no data). */
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let server: ChildProcess | undefined;
  const start = async () => {
    server = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      {
        stdio: "ignore",
      },
    );
    await answers(port, 5000);
  };
  const kill = async () => {
    const running = server;
    server = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, kill, start };
}
