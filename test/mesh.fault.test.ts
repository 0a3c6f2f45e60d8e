import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../scripts/mesh/plan.js";
import { freshUsername, type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { startTestMesh, type TestMesh } from "./mesh.js";

const REPO = join(import.meta.dirname, "..");

/**
 * A Redis of this file's own, started and stopped by the project's deps/redis.sh: the run's shared
 * Redis serves other suites at the same time, which must not see it go away.
 */
async function startPrivateRedis() {
  const dir = mkdtempSync(join(tmpdir(), "parley-redis-"));
  const port = (await freePorts()).public;
  const run = (command: "start" | "stop") =>
    promisify(execFile)("bash", [join(REPO, "deps", "redis.sh"), command], {
      env: { ...process.env, PARLEY_DEPS_DIR: dir, PARLEY_DEPS_REDIS_PORT: String(port) },
    });
  await run("start");
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => run("stop"),
    start: () => run("start"),
    async remove() {
      await run("stop");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
let mesh: TestMesh;
let api: RestClient;

beforeAll(async () => {
  redis = await startPrivateRedis();
  mesh = await startTestMesh({
    servers: { redisUrl: redis.url },
    extraEnv: {
      // The flood is many sends per user; the limiter is not what this file tests.
      PARLEY_MESSAGES_SEND_LIMIT: "100000",
      PARLEY_GATEWAY_UPSTREAM_TIMEOUT_MS: "5000",
    },
  });
  api = restClient(mesh.url);
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
  await redis?.remove();
}, 60_000);

async function metric(process: "auth" | "messages", pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${mesh.processes[process].adminUrl}/metrics`)).text();
  const match = pattern.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Every message of a direct conversation, oldest first, paging back through history. */
async function wholeConversation(reader: TestUser, other: TestUser): Promise<Json[]> {
  const pages: Json[][] = [];
  let before: string | null = null;
  do {
    const query: string = `recipient=${other.username}&limit=200${before ? `&before=${encodeURIComponent(before)}` : ""}`;
    const page = await api.get(`/chat/messages?${query}`, reader.token);
    expect(page.status).toBe(200);
    pages.unshift(page.body.messages);
    before = page.body.nextCursor;
  } while (before && pages.length < 50);
  return pages.flat();
}

describe("kill -9 of the messages process (the persister) in the middle of a flood of sends", () => {
  const SENDERS = 6;
  const PER_SENDER = 50;
  const KILL_AFTER_ACKS = 90;

  it("loses no acknowledged send, duplicates none, keeps each conversation's order, and fails the rest with 5xx", async () => {
    const users = await Promise.all(Array.from({ length: SENDERS * 2 }, (_, i) => newUser(api, `flood${i}`)));
    const pairs = Array.from({ length: SENDERS }, (_, i) => ({
      sender: users[2 * i] as TestUser,
      recipient: users[2 * i + 1] as TestUser,
    }));
    const messages = mesh.processes.messages;
    const pidBefore = messages.pid;

    let acks = 0;
    let crash: Promise<void> | undefined;
    const failures: number[] = [];
    // Each sender sends in order, one at a time, so its conversation's order is the order of its acks.
    const acked = await Promise.all(
      pairs.map(async ({ sender, recipient }, s) => {
        const ids: string[] = [];
        for (let k = 0; k < PER_SENDER; k++) {
          const body = {
            recipient: recipient.username,
            message: `flood ${s}/${k}`,
            clientMessageId: `f-${s}-${k}`,
          };
          for (let attempt = 1; ; attempt++) {
            const res = await api.post("/chat/send", body, sender.token);
            if (res.status === 200) {
              ids.push(res.body.messageId);
              if (++acks === KILL_AFTER_ACKS) {
                crash = messages.kill("SIGKILL").then(() => messages.restart());
              }
              break;
            }
            failures.push(res.status);
            expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(500);
            expect(attempt, "a send still fails after the restart").toBeLessThan(6);
            // Retried (same clientMessageId) once the process is back: the retry is what makes it safe.
            await crash;
          }
        }
        return ids;
      }),
    );
    await crash;

    expect(messages.pid).toBeDefined();
    expect(messages.pid).not.toBe(pidBefore);
    expect(failures.length, "sends failed while messages was down").toBeGreaterThan(0);
    expect(mesh.mesh.failure()).toBeUndefined();

    for (const [s, { sender, recipient }] of pairs.entries()) {
      const ids = acked[s] as string[];
      expect(ids).toHaveLength(PER_SENDER);
      expect([...ids].sort(), "message ids increase in send order").toEqual(ids);
      const history = await wholeConversation(recipient, sender);
      expect(history.map((m: Json) => m.messageId)).toEqual(ids);
      expect(history.map((m: Json) => m.content)).toEqual(
        Array.from({ length: PER_SENDER }, (_, k) => `flood ${s}/${k}`),
      );
    }

    // The persister catches up after its restart: nothing acknowledged is left only in the log.
    const lag = /parley_log_consumer_lag_records\{group="[^"]*persister[^"]*",topic="[^"]*messages"\} (\d+)/;
    let last: number | undefined;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      last = await metric("messages", lag);
      if (last === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(last, "persister consumer lag").toBe(0);
  }, 240_000);
});

describe("Redis stopped under a running mesh", () => {
  it("keeps login and send working with per-process rate limits, names redis in /readyz, and crashes nothing", async () => {
    const [alice, bob] = await Promise.all([newUser(api, "nored"), newUser(api, "nored")]);
    const pids = Object.fromEntries(Object.entries(mesh.processes).map(([name, p]) => [name, p.pid]));
    await redis.stop();
    try {
      const login = await api.post("/auth/login", { username: alice.username, password: alice.password });
      expect(login.status).toBe(200);
      const sent = await api.post(
        "/chat/send",
        { recipient: bob.username, message: "no redis" },
        login.body.token,
      );
      expect(sent.status).toBe(200);
      const history = await api.get(`/chat/messages?recipient=${alice.username}`, bob.token);
      expect(history.body.messages.map((m: Json) => m.content)).toEqual(["no redis"]);

      // Degraded, not gone: the process counts failed logins itself and still refuses a flood.
      const username = freshUsername("noredis");
      let last = await api.post("/auth/login", { username, password: "wrong password" });
      for (let i = 0; i < 40 && last.status !== 429; i++) {
        expect(last.status).toBe(401);
        last = await api.post("/auth/login", { username, password: "wrong password" });
      }
      expect(last.status).toBe(429);
      expect(
        await metric("auth", /parley_rate_limiter_degraded_total\{limiter="login-[a-z]+"\} (\d+)/),
      ).toBeGreaterThan(0);

      for (const name of ["auth", "messages"] as const) {
        const ready = await fetch(`${mesh.processes[name].adminUrl}/readyz`);
        const body = (await ready.json()) as { checks: Record<string, string> };
        expect(ready.status, name).toBe(503);
        expect(body.checks.redis, name).not.toBe("ok");
        expect(
          Object.entries(body.checks)
            .filter(([, r]) => r !== "ok")
            .map(([n]) => n),
        ).toEqual(["redis"]);
      }
    } finally {
      await redis.start();
    }
    await mesh.mesh.waitReady();
    expect(Object.fromEntries(Object.entries(mesh.processes).map(([name, p]) => [name, p.pid]))).toEqual(
      pids,
    );
    expect(mesh.mesh.failure()).toBeUndefined();
  }, 120_000);
});
