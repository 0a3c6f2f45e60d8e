import { loadavg } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";

/**
 * A reconnect storm on one gateway (issue 5), all-in-one: every WebSocket stream closes at once
 * (a drain, or a crowd of clients losing their network), and right after, while the gateway and
 * presence are still working through the closes, the same devices all reconnect at once with their
 * cursors — thousands of connections arriving at once at a process still busy with the closes.
 * Every new stream must reach LIVE, replay what was sent while it was away (once), and then get a
 * message sent live. The users share a group, so each one's presence changes go to every stream of
 * all the others, as in production — in a storm, most of the work.
 * STORM_USERS × STORM_STREAMS_PER_USER streams (default 80 × 50 = 4,000: few users, as each costs
 * an argon2 hash to register; many devices each, which the per-user stream limit is raised for).
 */
const USERS = Number(process.env.STORM_USERS ?? 80);
const STREAMS_PER_USER = Number(process.env.STORM_STREAMS_PER_USER ?? 50);
const STREAMS = USERS * STREAMS_PER_USER;
/** How long a stream may take to reach LIVE, or to get a message, before it counts as failed. */
const DEADLINE_MS = 40_000;

let parley: TestParley;
let api: RestClient;
const sockets = new Set<WebSocket>();

beforeAll(async () => {
  parley = await startTestParley({
    env: {
      PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS: "100000",
      PARLEY_AUTH_LOGIN_LIMIT_PER_USERNAME: "100000",
      PARLEY_EVENTS_MAX_STREAMS_PER_USER: String(STREAMS_PER_USER),
    },
  });
  api = restClient(parley.url);
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  await parley?.cleanup();
});

/** One device's stream, lean (thousands at once): what it got before and after LIVE, how it ended. */
interface Device {
  user: TestUser;
  /** Settles with the LIVE cursor, or rejects with why the stream never got there. */
  live: Promise<string>;
  /** Bench messages (content) received before LIVE (replayed) and after (live). */
  replayed: string[];
  pushed: string[];
  socket: WebSocket;
  /** Presence events received. */
  presence(): number;
  waitFor(content: string, timeoutMs: number): Promise<void>;
}

function openDevice(user: TestUser, cursor?: string): Device {
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const socket = new WebSocket(`${parley.url.replace(/^http/, "ws")}/v1/events/ws${query}`, {
    headers: { authorization: `Bearer ${user.token}` },
    perMessageDeflate: false,
  });
  sockets.add(socket);
  const replayed: string[] = [];
  const pushed: string[] = [];
  const waiters = new Map<string, () => void>();
  let isLive = false;
  let presence = 0;
  const live = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no LIVE within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    socket.on("message", (data) => {
      const text = data.toString();
      // Presence and typing are most of the frames: only messages and controls are parsed.
      if (text.includes('"presence":{')) presence++;
      else if (text.includes('"message":{"message"')) {
        const content = JSON.parse(text).message.message.content as string;
        (isLive ? pushed : replayed).push(content);
        waiters.get(content)?.();
      } else if (!isLive && text.includes("STREAM_CONTROL_KIND_LIVE")) {
        isLive = true;
        clearTimeout(timer);
        resolve(JSON.parse(text).cursor);
      }
    });
    socket.on("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    let error = "";
    socket.on("error", (err) => {
      error = ` (${err.message})`; // the close follows
    });
    socket.on("close", (code, reason) => {
      sockets.delete(socket);
      clearTimeout(timer);
      if (!isLive) reject(new Error(`closed before LIVE: ${code} ${reason.toString()}${error}`));
    });
  });
  live.catch(() => {});
  return {
    user,
    live,
    replayed,
    pushed,
    socket,
    presence: () => presence,
    waitFor(content, timeoutMs) {
      if (pushed.includes(content)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${content}" within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.set(content, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/** Each failure's reason, counted: "closed before LIVE: 1013 …" × 19. */
function tally(results: PromiseSettledResult<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    if (r.status === "rejected") {
      const reason = String((r.reason as Error).message);
      counts[reason] = (counts[reason] ?? 0) + 1;
    }
  }
  return counts;
}

async function sendToGroup(groupId: string, owner: TestUser, message: string) {
  const sent = await api.post(`/groups/${groupId}/send`, { message }, owner.token);
  expect(sent.status).toBe(200);
}

/** Registers `n` users, 8 at a time (each costs an argon2 hash and a verification). */
async function register(n: number): Promise<TestUser[]> {
  const users: TestUser[] = [];
  let asked = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (asked++ < n) users.push(await newUser(api, "storm"));
    }),
  );
  return users;
}

describe(`a reconnect storm of ${STREAMS} WebSocket streams on one gateway`, () => {
  it("reaches LIVE on every stream reopened right after all closed at once, with nothing lost", async () => {
    const users = await register(USERS);
    const owner = users[0] as TestUser;

    // The first generation opens calmly (128 at a time): the storm is the close and what follows.
    const first: { device: Device; cursor: string }[] = [];
    // Round-robin over the users, so every user's devices are spread over the storm as in life.
    const wanted = Array.from({ length: STREAMS_PER_USER }, () => users).flat();
    let next = 0;
    await Promise.all(
      Array.from({ length: 128 }, async () => {
        while (next < wanted.length) {
          const device = openDevice(wanted[next++] as TestUser);
          first.push({ device, cursor: await device.live });
        }
      }),
    );
    expect(first).toHaveLength(STREAMS);
    // Only now do they share a group (so opening them cost no presence fan-out): from here on,
    // every presence change of a user goes to every stream of everyone else.
    const group = await api.post(
      "/groups/create",
      { name: "storm", members: users.slice(1).map((u) => u.username) },
      owner.token,
    );
    expect(group.status).toBe(201);
    const groupId = group.body.groupId as string;

    // Every stream goes at once and every device comes back at once with the cursor it had, while
    // a message is sent to each of them.
    const started = performance.now();
    for (const { device } of first) device.socket.terminate();
    const second = first.map(({ device, cursor }) => openDevice(device.user, cursor));
    const away = sendToGroup(groupId, owner, "while away");
    const opened = await Promise.allSettled(second.map((d) => d.live));
    const liveMs = performance.now() - started;
    await away;
    const live = second.filter((_, i) => opened[i]?.status === "fulfilled");

    await sendToGroup(groupId, owner, "after the storm");
    const got = await Promise.allSettled(live.map((d) => d.waitFor("after the storm", DEADLINE_MS)));
    console.log(
      `storm: ${STREAMS} streams closed and reopened; ${live.length} LIVE after ${Math.round(liveMs)} ms; ` +
        `failures ${JSON.stringify(tally(opened))}; presence events ${second.reduce((n, d) => n + d.presence(), 0)}; ` +
        `load average ${loadavg().map((l) => l.toFixed(2))}`,
    );

    expect(tally(opened)).toEqual({});
    expect(tally(got)).toEqual({});
    // Resumed from its cursor: the message sent meanwhile came once (replayed, or pushed if delivery
    // wrote it after the stream's replay), then the one sent after LIVE, once.
    const wrong = second.filter(
      (d) =>
        [...d.replayed, ...d.pushed].join("|") !== "while away|after the storm" ||
        !d.pushed.includes("after the storm"),
    );
    expect(wrong.map((d) => ({ replayed: d.replayed, pushed: d.pushed })).slice(0, 3)).toEqual([]);
  }, 120_000);
});
