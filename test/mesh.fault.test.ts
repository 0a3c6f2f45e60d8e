import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshUsername, type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { missingFromHistory } from "./kafka-inspect.js";
import { startTestMesh, type TestMesh } from "./mesh.js";
import { type PrivateServer, startPrivateKafka, startPrivateRedis } from "./private-servers.js";

/**
 * Redis and Kafka are this file's own (test/private-servers.ts): its tests stop Redis and kill
 * Kafka, which the run's shared servers must never see while other suites use them.
 */
let redis: PrivateServer;
let kafka: PrivateServer;
let mesh: TestMesh;
let api: RestClient;

beforeAll(async () => {
  [redis, kafka] = await Promise.all([startPrivateRedis(), startPrivateKafka()]);
  mesh = await startTestMesh({
    servers: { redisUrl: redis.address, kafkaBrokers: kafka.address },
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
  await Promise.all([redis?.remove(), kafka?.remove()]);
}, 120_000);

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

/** History holds exactly these ids, in order; when not, the failure says where the missing ones are in the log. */
async function expectHistoryHolds(history: Json[], ids: string[]): Promise<void> {
  const seen = new Set(history.map((m: Json) => m.messageId as string));
  const missing = ids.filter((id) => !seen.has(id));
  const where =
    missing.length > 0 ? await missingFromHistory(kafka.address, mesh.names.kafkaPrefix ?? "", missing) : "";
  expect(
    history.map((m: Json) => m.messageId),
    where,
  ).toEqual(ids);
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
      await expectHistoryHolds(history, ids);
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

describe("kill -9 of the Kafka broker in the middle of a flood of sends, then its restart", () => {
  const SENDERS = 5;
  const PER_SENDER = 40;
  const KILL_AFTER_ACKS = 60;

  it("fails every send while Kafka is down with 503, loses and duplicates no acknowledged send, keeps order after the retries", async () => {
    const users = await Promise.all(Array.from({ length: SENDERS * 2 }, (_, i) => newUser(api, `kfk${i}`)));
    const pairs = Array.from({ length: SENDERS }, (_, i) => ({
      sender: users[2 * i] as TestUser,
      recipient: users[2 * i + 1] as TestUser,
    }));
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    // up → down (broker killed and gone) → restarting (deps/kafka.sh start running) → back.
    let phase: "up" | "down" | "restarting" | "back" = "up";
    const failedWhileDown = new Set<number>();
    const whileDown: { status: number; code: unknown; ms: number }[] = [];
    const otherFailures: { phase: string; status: number; code: unknown }[] = [];
    let downMs = 0;
    let restartMs = 0;
    let restarted: Promise<void> | undefined;
    // Kill, keep sending until every sender has seen its send fail, then restart Kafka.
    const outage = async () => {
      await kafka.kill9();
      phase = "down";
      const downAt = Date.now();
      for (const deadline = downAt + 30_000; failedWhileDown.size < SENDERS && Date.now() < deadline; ) {
        await pause(50);
      }
      phase = "restarting";
      downMs = Date.now() - downAt;
      const t0 = Date.now();
      await kafka.start();
      restartMs = Date.now() - t0;
      phase = "back";
    };

    let acks = 0;
    const started = Date.now();
    let acked: string[][];
    try {
      // Each sender sends in order, one at a time, retrying a failed send (same clientMessageId)
      // before the next one, so its conversation's order is the order of its acks.
      acked = await Promise.all(
        pairs.map(async ({ sender, recipient }, s) => {
          const ids: string[] = [];
          for (let k = 0; k < PER_SENDER; k++) {
            const body = {
              recipient: recipient.username,
              message: `kafka ${s}/${k}`,
              clientMessageId: `k-${s}-${k}`,
            };
            for (const deadline = Date.now() + 120_000; ; ) {
              const before = phase;
              const t0 = Date.now();
              const res = await api.post("/chat/send", body, sender.token);
              const ms = Date.now() - t0;
              if (before === "down" && phase === "down") {
                // Sent and answered entirely while the broker was dead: never an acknowledgement.
                expect(
                  res.status,
                  `send ${s}/${k} while Kafka was down: ${JSON.stringify(res.body)}`,
                ).not.toBe(200);
                whileDown.push({ status: res.status, code: res.body?.error?.code, ms });
                failedWhileDown.add(s);
              }
              if (res.status === 200) {
                ids.push(res.body.messageId);
                if (++acks === KILL_AFTER_ACKS) restarted = outage();
                break;
              }
              expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(500);
              if (!(before === "down" && phase === "down")) {
                otherFailures.push({
                  phase: `${before}->${phase}`,
                  status: res.status,
                  code: res.body?.error?.code,
                });
              }
              expect(Date.now(), `send ${s}/${k} still fails (phase ${phase})`).toBeLessThan(deadline);
              // Retry backoff: keep sending while down; wait for the restart rather than hammer it.
              if (phase === "restarting") await restarted;
              else await pause(100);
            }
          }
          return ids;
        }),
      );
      await restarted;
    } finally {
      // The next test of this file uses the broker: it runs again whatever happened here.
      await restarted?.catch(() => {});
      await kafka.start();
    }
    const floodMs = Date.now() - started;

    const statuses = whileDown.reduce<Record<string, number>>((n, f) => {
      const key = `${f.status} ${f.code}`;
      n[key] = (n[key] ?? 0) + 1;
      return n;
    }, {});
    const times = whileDown.map((f) => f.ms).sort((a, b) => a - b);
    console.log(
      `kafka kill: flood ${floodMs} ms, down ${downMs} ms, restart ${restartMs} ms; ` +
        `${whileDown.length} sends while down ${JSON.stringify(statuses)}, ` +
        `fail time min/median/max ${times[0]}/${times[times.length >> 1]}/${times[times.length - 1]} ms; ` +
        `other failures ${JSON.stringify(otherFailures)}`,
    );

    expect(phase).toBe("back");
    expect(failedWhileDown.size, "every sender saw a send fail while Kafka was down").toBe(SENDERS);
    for (const f of whileDown) {
      expect(f.status, JSON.stringify(f)).toBe(503);
      expect(f.code, JSON.stringify(f)).toBe("unavailable");
    }
    expect(mesh.mesh.failure()).toBeUndefined();

    // History reads go through the log's tail reader, which must find the restarted broker again.
    const readsBackFrom = Date.now();
    let lastRead: { status: number; body: Json } | undefined;
    // The tail group rejoins within its 6 s session timeout; 20 s leaves room for a loaded machine.
    for (const deadline = readsBackFrom + 20_000; Date.now() < deadline; await pause(250)) {
      const { sender, recipient } = pairs[0] as (typeof pairs)[number];
      lastRead = await api.get(`/chat/messages?recipient=${sender.username}&limit=1`, recipient.token);
      if (lastRead.status === 200) break;
    }
    console.log(
      `history reads answered 200 again ${Date.now() - readsBackFrom} ms after Kafka's restart; last ${JSON.stringify(lastRead)}`,
    );
    expect(lastRead?.status, JSON.stringify(lastRead?.body)).toBe(200);

    for (const [s, { sender, recipient }] of pairs.entries()) {
      const ids = acked[s] as string[];
      expect(ids).toHaveLength(PER_SENDER);
      expect(new Set(ids).size, "one message id per send").toBe(PER_SENDER);
      expect([...ids].sort(), "message ids increase in send order").toEqual(ids);
      const history = await wholeConversation(recipient, sender);
      await expectHistoryHolds(history, ids);
      expect(history.map((m: Json) => m.content)).toEqual(
        Array.from({ length: PER_SENDER }, (_, k) => `kafka ${s}/${k}`),
      );
    }
  }, 240_000);
});

describe("Redis stopped under a running mesh", () => {
  it("keeps login and send working with per-process rate limits, names redis in /readyz, and crashes nothing", async () => {
    // From a mesh that is ready on every check: the Kafka test before this one restarted the broker,
    // and its consumers may still be rejoining their groups (which /readyz rightly names).
    await mesh.mesh.waitReady();
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
