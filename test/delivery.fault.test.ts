import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, isMeshVariable, processEnv } from "../scripts/mesh/plan.js";
import { SupervisedProcess } from "../scripts/mesh/processes.js";
import { type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";
import { ResilientDevice } from "./device-stream.js";
import type { EventTransport } from "./event-clients.js";
import { startTestMesh, type TestMesh } from "./mesh.js";
import { type PrivateServer, startPrivateKafka, startPrivateRedis } from "./private-servers.js";

/**
 * Live delivery under faults, in a mesh (one process per service) on real servers: devices hold
 * event streams over Connect, WebSocket and SSE while senders flood 1:1 and group messages, and
 * one part of the system fails in the middle. Afterwards every device must have every
 * acknowledged message addressed to its user exactly once, each conversation in order, and its
 * durable events must be gapless in seq across all its reconnects.
 *
 * Redis and Kafka are this file's own (test/private-servers.ts), so restarting them disturbs no
 * other suite; PostgreSQL and Cassandra are the run's shared servers (never stopped here).
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
      PARLEY_MESSAGES_SEND_LIMIT: "100000",
      PARLEY_GATEWAY_UPSTREAM_TIMEOUT_MS: "5000",
      // Short presence TTLs, so a dead gateway's entries and a restarted Redis heal within seconds.
      PARLEY_GATEWAY_NODE_TTL_SECONDS: "6",
      PARLEY_DELIVERY_PUSH_TIMEOUT_MS: "1000",
    },
  });
  api = restClient(mesh.url);
}, 300_000);

afterAll(async () => {
  await mesh?.stop();
  await Promise.all([redis?.remove(), kafka?.remove()]);
}, 120_000);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TRANSPORTS: EventTransport[] = ["connect", "ws", "sse"];

interface Flood {
  senders: TestUser[];
  recipients: TestUser[];
  groupId: string;
  devices: ResilientDevice[];
}

/**
 * Senders s0..sN-1 each write to their own recipient and to one group of everyone. Every recipient
 * has a device on each transport; every sender one device (its own sent messages reach it too).
 */
async function setUp(label: string, pairs: number, streamsUrl: () => string, sendApi = api): Promise<Flood> {
  const senders = await Promise.all(
    Array.from({ length: pairs }, (_, i) => newUser(sendApi, `${label}s${i}`)),
  );
  const recipients = await Promise.all(
    Array.from({ length: pairs }, (_, i) => newUser(sendApi, `${label}r${i}`)),
  );
  const created = await sendApi.post(
    "/groups/create",
    { name: `${label} group`, members: [...senders.slice(1), ...recipients].map((u) => u.username) },
    (senders[0] as TestUser).token,
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const devices = [
    ...recipients.flatMap((user, i) =>
      TRANSPORTS.map((t) => new ResilientDevice(`${label}r${i}/${t}`, user, t, streamsUrl)),
    ),
    ...senders.map(
      (user, i) =>
        new ResilientDevice(
          `${label}s${i}/${TRANSPORTS[i % 3]}`,
          user,
          TRANSPORTS[i % 3] as EventTransport,
          streamsUrl,
        ),
    ),
  ];
  await Promise.all(devices.map((d) => d.start()));
  return { senders, recipients, groupId: created.body.groupId, devices };
}

interface Sent {
  messageId: string;
  group: boolean;
  sender: number;
}

/**
 * Each sender sends `perSender` messages one at a time, every third to the group, retrying a failed
 * send (same clientMessageId) until it is acknowledged; `fault()` starts after `faultAfter` acks.
 * Returns the acknowledged messages in ack order per sender, and the fault's own promise.
 */
async function flood(
  f: Flood,
  label: string,
  perSender: number,
  faultAfter: number,
  fault: () => Promise<void>,
  sendApi: RestClient = api,
): Promise<{ acked: Sent[][]; failures: number[] }> {
  let acks = 0;
  let faulted: Promise<void> | undefined;
  const failures: number[] = [];
  const acked = await Promise.all(
    f.senders.map(async (sender, s) => {
      const out: Sent[] = [];
      for (let k = 0; k < perSender; k++) {
        const toGroup = k % 3 === 2;
        const path = toGroup ? `/groups/${f.groupId}/send` : "/chat/send";
        const body = {
          ...(toGroup ? {} : { recipient: (f.recipients[s] as TestUser).username }),
          message: `${label} ${s}/${k}`,
          clientMessageId: `${label}-${s}-${k}`,
        };
        for (const deadline = Date.now() + 180_000; ; ) {
          const res = await sendApi
            .post(path, body, sender.token)
            .catch(() => ({ status: 0, body: undefined }));
          if (res.status === 200) {
            out.push({ messageId: res.body.messageId, group: toGroup, sender: s });
            if (++acks === faultAfter) faulted = fault();
            break;
          }
          failures.push(res.status);
          expect(res.status === 0 || res.status >= 500, JSON.stringify(res.body)).toBe(true);
          expect(Date.now(), `send ${label} ${s}/${k} still fails`).toBeLessThan(deadline);
          await pause(100);
        }
      }
      return out;
    }),
  );
  await faulted;
  return { acked, failures };
}

/**
 * Every device ends up with exactly the acknowledged messages addressed to its user, each once;
 * a direct conversation in ack order; the group in one order every device agrees on, which keeps
 * each sender's ack order; and gapless seqs across its reconnects.
 */
async function expectExactlyOnceInOrder(f: Flood, acked: Sent[][], settleMs = 90_000): Promise<void> {
  const all = acked.flat();
  const group = all.filter((m) => m.group);
  const expectedFor = (user: TestUser): Set<string> => {
    const s = f.senders.findIndex((u) => u.userId === user.userId);
    const r = f.recipients.findIndex((u) => u.userId === user.userId);
    const direct = (acked[s >= 0 ? s : r] ?? []).filter((m) => !m.group);
    return new Set([...direct, ...group].map((m) => m.messageId));
  };
  const started = Date.now();
  await Promise.all(
    f.devices.map((d) => {
      const expected = expectedFor(d.user);
      return d
        .until(
          () => d.messageIds().filter((id) => expected.has(id)).length >= expected.size,
          settleMs,
          "all messages",
        )
        .catch((err: Error) => {
          const have = new Set(d.messageIds());
          const missing = [...expected].filter((id) => !have.has(id));
          throw new Error(
            `${err.message}: ${missing.length} of ${expected.size} missing; ${d.opens} streams opened; ends ${JSON.stringify(d.ends.slice(-5))}; violations ${d.violations.slice(0, 5).join("; ")}`,
          );
        });
    }),
  );
  const settled = Date.now() - started;
  // A moment for anything that would arrive twice to arrive.
  await pause(1_000);

  let groupOrder: string[] | undefined;
  for (const d of f.devices) {
    const ids = d.messageIds();
    const expected = expectedFor(d.user);
    expect(new Set(ids).size, `${d.name}: a message arrived twice`).toBe(ids.length);
    expect(
      ids.filter((id) => !expected.has(id)),
      `${d.name}: messages never acknowledged`,
    ).toEqual([]);
    expect(ids.length, d.name).toBe(expected.size);
    expect(d.violations, `${d.name}: seq violations`).toEqual([]);
    // The one direct conversation of the device's user (keyed by its sender) and the group.
    const byConversation = new Map<string, string[]>();
    for (const e of d.durable.filter((x) => x.message)) {
      const m = e.message.message as Json;
      const key = m.groupId ? "group" : `direct:${f.senders.findIndex((u) => u.userId === m.senderId)}`;
      byConversation.set(key, [...(byConversation.get(key) ?? []), m.messageId]);
    }
    for (const [conversation, received] of byConversation) {
      if (conversation === "group") {
        groupOrder ??= received;
        expect(received, `${d.name}: the group's order differs between devices`).toEqual(groupOrder);
      } else {
        const s = Number(conversation.slice("direct:".length));
        const sent = (acked[s] ?? []).filter((m) => !m.group).map((m) => m.messageId);
        expect(received, `${d.name}: order of the direct conversation of sender ${s}`).toEqual(sent);
      }
    }
  }
  expect(groupOrder?.length).toBe(group.length);
  for (const [s, sent] of acked.entries()) {
    const mine = sent.filter((m) => m.group).map((m) => m.messageId);
    expect(
      groupOrder?.filter((id) => mine.includes(id)),
      `sender ${s}'s group messages in ack order`,
    ).toEqual(mine);
  }
  const opens = f.devices.map((d) => d.opens);
  console.log(
    `settled ${settled} ms after the flood; streams opened per device min/max ${Math.min(...opens)}/${Math.max(...opens)}; ` +
      `${all.length} messages, ${f.devices.length} devices`,
  );
}

async function stopDevices(f: Flood | undefined): Promise<void> {
  await Promise.all(f?.devices.map((d) => d.stop()) ?? []);
}

describe("live delivery while the delivery process is killed with SIGKILL mid-flood and restarted", () => {
  it("gets every acknowledged message to every device exactly once, in order", async () => {
    const f = await setUp("kd", 3, () => mesh.url);
    try {
      const delivery = mesh.processes.delivery;
      const before = delivery.pid;
      let backAfterMs = 0;
      const { acked, failures } = await flood(f, "kd", 30, 25, async () => {
        const killed = performance.now();
        await delivery.kill("SIGKILL");
        await delivery.restart();
        backAfterMs = performance.now() - killed;
      });
      // Ready means in its groups again: the restarted process joins as a new member, which its
      // groups admit once the killed member's session (PARLEY_KAFKA_SESSION_TIMEOUT_MS, 15 s) ends.
      console.log(`delivery consuming again ${Math.round(backAfterMs)} ms after SIGKILL`);
      expect(backAfterMs).toBeLessThan(25_000);
      expect(delivery.pid).toBeDefined();
      expect(delivery.pid).not.toBe(before);
      expect(failures, "sends do not need delivery").toEqual([]);
      expect(mesh.mesh.failure()).toBeUndefined();
      await expectExactlyOnceInOrder(f, acked);
    } finally {
      await stopDevices(f);
    }
  }, 300_000);
});

describe("live delivery while the gateway holding the streams is killed with SIGKILL", () => {
  let second: SupervisedProcess | undefined;
  let secondFailure: string | undefined;
  afterAll(async () => {
    await second?.stop(10_000);
  });

  it("the devices resume on a second gateway from their last cursor: every message exactly once, in order", async () => {
    const plan = mesh.mesh.plan;
    const ports = await freePorts();
    const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !isMeshVariable(key)));
    const secondUrl = `http://127.0.0.1:${ports.public}`;
    second = new SupervisedProcess({
      name: "gateway",
      repoDir: join(import.meta.dirname, ".."),
      env: {
        ...baseEnv,
        ...processEnv(plan, "gateway"),
        PORT: String(ports.public),
        PARLEY_ADMIN_PORT: String(ports.admin.gateway),
      },
      adminUrl: `http://127.0.0.1:${ports.admin.gateway}`,
      readyTimeoutMs: 120_000,
      onLine: process.env.MESH_LOG === "1" ? (_name, line) => console.error(`gateway-2 | ${line}`) : () => {},
      onUnexpectedExit: (_name, description) => {
        secondFailure = `the second gateway ${description}`;
      },
    });
    second.start();
    await second.waitReady();
    const secondApi = restClient(secondUrl);

    const first = mesh.processes.gateway;
    let streamsUrl = mesh.url;
    const f = await setUp("kg", 3, () => streamsUrl, secondApi);
    try {
      const { acked, failures } = await flood(
        f,
        "kg",
        30,
        25,
        async () => {
          streamsUrl = secondUrl;
          await first.kill("SIGKILL");
        },
        secondApi,
      );
      expect(failures, "sends go through the surviving gateway").toEqual([]);
      expect(secondFailure).toBeUndefined();
      for (const d of f.devices) expect(d.opens, `${d.name} reconnected`).toBeGreaterThan(1);
      await expectExactlyOnceInOrder(f, acked);
    } finally {
      await stopDevices(f);
      // The mesh's own gateway comes back for the tests after this one.
      await first.restart();
    }
  }, 300_000);
});

describe("live delivery while Redis (presence, stream routing) restarts empty", () => {
  it("gets every acknowledged message to every device exactly once, in order", async () => {
    const f = await setUp("rr", 3, () => mesh.url);
    try {
      const { acked } = await flood(f, "rr", 30, 25, async () => {
        await redis.stop();
        await pause(3_000);
        await redis.start();
      });
      expect(mesh.mesh.failure()).toBeUndefined();
      await expectExactlyOnceInOrder(f, acked);
    } finally {
      await stopDevices(f);
    }
  }, 300_000);

  it("delivers what was sent while Redis was down even when nothing is sent after it", async () => {
    // No later message reveals a gap to the streams here: the system must heal by itself.
    const f = await setUp("rt", 1, () => mesh.url);
    try {
      await redis.stop();
      let acked: Sent[][];
      try {
        ({ acked } = await flood(f, "rt", 3, 0, async () => {}));
        await pause(1_000);
      } finally {
        await redis.start();
      }
      await expectExactlyOnceInOrder(f, acked, 45_000);
    } finally {
      await stopDevices(f);
    }
  }, 300_000);
});

describe("live delivery while Kafka is killed with SIGKILL mid-flood and restarted", () => {
  it("gets every acknowledged message to every device exactly once, in order", async () => {
    const f = await setUp("kk", 3, () => mesh.url);
    try {
      const { acked, failures } = await flood(f, "kk", 30, 25, async () => {
        await kafka.kill9();
        await pause(2_000);
        await kafka.start();
      });
      expect(failures.length, "sends failed while Kafka was down").toBeGreaterThan(0);
      expect(mesh.mesh.failure()).toBeUndefined();
      // Consumers rejoin as the members they were (kafkajs-rejoin.ts): settled within milliseconds
      // of the flood here, where joining as new members waited out the old sessions (~29 s).
      await expectExactlyOnceInOrder(f, acked, 20_000);
    } finally {
      await stopDevices(f);
    }
  }, 360_000);
});
