import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MESH_TARGETS } from "../scripts/mesh/plan.js";
import { createLogger } from "../services/kit/logger.js";
import { openRedis } from "../services/kit/redis.js";
import { newUser, restClient } from "./clients.js";
import { startTestMesh, type TestMesh } from "./mesh.js";
import { realServerSetting } from "./real-servers.js";
import { restScenarios } from "./rest.scenarios.js";

let mesh: TestMesh;

beforeAll(async () => {
  mesh = await startTestMesh();
}, 180_000);

afterAll(async () => {
  await mesh?.stop();
}, 60_000);

describe("the foundation's REST walk, unchanged, against mesh mode on the real servers", () => {
  restScenarios(() => ({ url: mesh.url, adminUrl: mesh.processes.gateway.adminUrl }));
});

describe("mesh mode", () => {
  it("runs one process per target, each on the real servers its modules use", async () => {
    const pids = Object.values(mesh.processes).map((p) => p.pid);
    expect(pids.every((pid) => typeof pid === "number" && pid !== process.pid)).toBe(true);
    expect(new Set(pids).size).toBe(MESH_TARGETS.length);
    expect(await mesh.roles()).toEqual({
      auth: ["postgres:auth", "redis"],
      crypto: [],
      groups: ["kafka", "postgres:groups"],
      messages: ["cassandra", "kafka", "postgres:messages", "redis"],
      media: ["postgres:media", "s3"],
      // Typing is rate-limited across replicas in Redis; presence lives there.
      delivery: ["kafka", "postgres:delivery", "redis"],
      presence: ["redis"],
      gateway: [],
    });
    expect(mesh.mesh.failure()).toBeUndefined();
  });

  it("keeps its Redis keys under the mesh's own prefix (PARLEY_REDIS_KEY_PREFIX)", async () => {
    const user = await newUser(restClient(mesh.url), "prefix");
    const redis = openRedis(realServerSetting("PARLEY_TEST_REDIS_URL"), createLogger({ level: "silent" }));
    try {
      const limiterKey = (prefix: string) => `${prefix}rl:login-username:${user.username}`;
      expect(mesh.names.redisPrefix).toMatch(/^mesh-/);
      expect(await redis.exists(limiterKey(mesh.names.redisPrefix as string))).toBe(1);
      expect(await redis.exists(limiterKey("parley:"))).toBe(0);
    } finally {
      await redis.quit();
    }
  });

  it("answers /healthz and /readyz on every process's admin port, every dependency ok", async () => {
    for (const [name, process] of Object.entries(mesh.processes)) {
      expect((await fetch(`${process.adminUrl}/healthz`)).status, name).toBe(200);
      const ready = await fetch(`${process.adminUrl}/readyz`);
      const body = (await ready.json()) as {
        status: string;
        targets: object;
        checks: Record<string, string>;
      };
      expect(ready.status, `${name}: ${JSON.stringify(body)}`).toBe(200);
      expect(body.status).toBe("ready");
      expect(body.targets).toEqual({ [name]: "started" });
      for (const result of Object.values(body.checks)) expect(result).toBe("ok");
    }
  });

  it("exports RPC latency on the gateway and messages, and log-append and store latency on messages", async () => {
    const api = restClient(mesh.url);
    const [sender, recipient] = await Promise.all([newUser(api, "metrics"), newUser(api, "metrics")]);
    const sent = await api.post(
      "/chat/send",
      { recipient: recipient.username, message: "measured" },
      sender.token,
    );
    expect(sent.status).toBe(200);
    expect((await api.get(`/chat/messages?recipient=${sender.username}`, recipient.token)).status).toBe(200);

    const metrics = async (name: "gateway" | "messages") =>
      (await fetch(`${mesh.processes[name].adminUrl}/metrics`)).text();
    const gateway = await metrics("gateway");
    expect(gateway).toMatch(
      /parley_rpc_duration_seconds_count\{service="parley\.v1\.MessageService",method="[Ss]endDirectMessage",code="OK",side="client"\} [1-9]/,
    );
    const messages = await metrics("messages");
    expect(messages).toMatch(
      /parley_rpc_duration_seconds_count\{service="parley\.v1\.MessageService",method="[Ss]endDirectMessage",code="OK",side="server"\} [1-9]/,
    );
    expect(messages).toMatch(/parley_log_append_duration_seconds_count\{[^}]*\} [1-9]/);
    expect(messages).toMatch(/parley_store_duration_seconds_count\{[^}]*\} [1-9]/);
  });
});

describe("a process whose dependency is unreachable at start-up", () => {
  it("exits non-zero with one line naming the dependency, instead of retrying silently", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "services/main.ts", "--target=groups"], {
      cwd: join(import.meta.dirname, ".."),
      env: {
        ...process.env,
        PARLEY_GROUPS_DATABASE_URL: "postgres://nobody:nothing@127.0.0.1:1/nowhere",
        PARLEY_ADMIN_PORT: "0",
        PARLEY_GROUPS_LISTEN: "127.0.0.1:0",
        PARLEY_AUTH_ADDR: "127.0.0.1:1",
        LOG_LEVEL: "silent",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, stderr).not.toBe(0);
    const lines = stderr.trim().split("\n");
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^parley: cannot start --target=groups: needs postgres:groups, which failed: .*127\.0\.0\.1:1/,
    );
    expect(lines[0]).not.toContain("nothing");
  }, 90_000);
});
