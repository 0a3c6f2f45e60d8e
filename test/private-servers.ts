import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePorts } from "../scripts/mesh/plan.js";
import { testKafka } from "./kafka-client.js";

const REPO = join(import.meta.dirname, "..");
const run = promisify(execFile);

/**
 * A real server of a test file's own, started and stopped by the project's deps/<name>.sh with a
 * state folder (PARLEY_DEPS_DIR) and loopback ports of its own: a fault test can stop, kill or
 * restart it while the run's shared servers keep serving every other test.
 */
export interface PrivateServer {
  /** Connection setting: a redis:// URL or a Kafka broker list. */
  address: string;
  /** `deps/<name>.sh start` (idempotent: a running server is left alone). */
  start(): Promise<void>;
  /** `deps/<name>.sh stop`: SIGTERM, then SIGKILL after the script's timeout. */
  stop(): Promise<void>;
  /** kill -9 of the server in the pid file, resolving once it is gone. */
  kill9(): Promise<void>;
  /** Stops it and removes its state folder. */
  remove(): Promise<void>;
}

async function privateServer(
  name: "redis" | "kafka",
  env: Record<string, string>,
  address: string,
  marker: string,
): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), `parley-${name}-`));
  const script = (command: "start" | "stop") =>
    run("bash", [join(REPO, "deps", `${name}.sh`), command], {
      env: { ...process.env, PARLEY_DEPS_DIR: dir, ...env },
    }).then(() => undefined);
  const server: PrivateServer = {
    address,
    start: () => script("start"),
    stop: () => script("stop"),
    async kill9() {
      const pid = Number(readFileSync(join(dir, name, "pid"), "utf8").trim());
      // Guard against a recycled pid: the command line names the server and our folder.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmdline.includes(marker) || !cmdline.includes(dir)) {
        throw new Error(`pid ${pid} is not our ${name}: ${cmdline}`);
      }
      process.kill(pid, "SIGKILL");
      for (const deadline = Date.now() + 10_000; alive(pid); ) {
        if (Date.now() > deadline) throw new Error(`${name} (pid ${pid}) still alive after SIGKILL`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async remove() {
      await script("stop").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (err) {
    await server.remove();
    throw err;
  }
  return server;
}

/** Alive and not a zombie (the server is nobody's child here, as deps/lib.sh's `alive`). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A Redis of its own (no persistence: a restart empties it, as a failed-over cache would be). */
export async function startPrivateRedis(): Promise<PrivateServer> {
  const port = (await freePorts()).public;
  return privateServer(
    "redis",
    { PARLEY_DEPS_REDIS_PORT: String(port) },
    `redis://127.0.0.1:${port}`,
    "redis-server",
  );
}

/**
 * A one-node Kafka (KRaft) of its own, with a smaller heap than the shared one, warmed up: a fresh
 * broker creates __consumer_offsets on the first group join and answers "coordinator not available /
 * loading" until then, which the shared, long-running broker never does (so it is done here first).
 */
export async function startPrivateKafka(
  options: {
    /** Clients are told to connect here (a proxy in front of the broker) instead of the broker's port. */
    advertisedPort?: number;
    /** Called with the broker's own port before it starts, so a proxy can listen first. */
    beforeStart?: (brokerPort: number) => Promise<void>;
    /** false: hand the broker over as freshly formatted, for tests of start-up on a new broker. */
    warmUp?: boolean;
    /** Broker settings over deps/conf/kafka/server.properties. */
    serverProperties?: Record<string, string>;
  } = {},
): Promise<PrivateServer> {
  const ports = await freePorts();
  const port = ports.public;
  const controller = ports.grpc.auth;
  await options.beforeStart?.(port);
  const advertised = options.advertisedPort ?? port;
  const server = await privateServer(
    "kafka",
    {
      PARLEY_DEPS_KAFKA_PORT: String(port),
      PARLEY_DEPS_KAFKA_ADVERTISED_PORT: String(advertised),
      PARLEY_DEPS_KAFKA_CONTROLLER_PORT: String(controller),
      PARLEY_DEPS_KAFKA_HEAP: process.env.PARLEY_DEPS_KAFKA_HEAP ?? "384m",
      PARLEY_DEPS_KAFKA_EXTRA_PROPERTIES: Object.entries(options.serverProperties ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join("\n"),
    },
    `127.0.0.1:${advertised}`,
    "kafka.Kafka",
  );
  try {
    if (options.warmUp !== false) await warmUp(server.address);
  } catch (err) {
    await server.remove();
    throw err;
  }
  return server;
}

/** Creates a topic and joins a consumer group on it once, so the group coordinator is ready. */
async function warmUp(brokers: string, timeoutMs = 90_000): Promise<void> {
  const kafka = testKafka("parley-test-warmup", [brokers]);
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId: "parley-test-warmup" });
  let timer: NodeJS.Timeout | undefined;
  try {
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: "parley-test-warmup", numPartitions: 1 }],
      waitForLeaders: true,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: "parley-test-warmup", fromBeginning: true });
    await Promise.race([
      new Promise<void>((resolve) => {
        consumer.on(consumer.events.GROUP_JOIN, () => resolve());
        void consumer.run({ eachMessage: async () => {} });
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Kafka at ${brokers}: no group join within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
