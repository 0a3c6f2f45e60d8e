/**
 * The container image, for real: the Dockerfile is built by a local Docker engine (deps/docker.sh,
 * with locally made stand-ins for its base images), the container runs with host networking on
 * embedded defaults with a read-only root filesystem and the chart's all-in-one memory limit, and
 * the seed walk passes against its port.
 */
import { chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { eventually } from "../../services/kit/testing/eventually.js";
import { restScenarios } from "../rest.scenarios.js";
import { CHART, ensureDeps, REPO, run, SETUP_TIMEOUT_MS } from "./k8s.js";

const IMAGE = "parley:test";
let docker: (args: string[]) => ReturnType<typeof run>;
let container = "";
let port = 0;
let adminPort = 0;
let buildSeconds = 0;
// The data folder on the host's disk, as the chart's emptyDir or volume is: a tmpfs would charge
// the PGlite clusters' files to the container's memory.
const dataDir = mkdtempSync(join(tmpdir(), "parley-image-data-"));

/** The chart's memory limit for the all-in-one pod, in docker's notation ("1536Mi" → "1536m"). */
function allInOneMemoryLimit(): string {
  const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8"));
  const limit = String(values.allInOne.resources.limits.memory);
  const mebibytes = /^(\d+)Mi$/.exec(limit)?.[1] ?? String(Number(/^(\d+)Gi$/.exec(limit)?.[1]) * 1024);
  if (!/^\d+$/.test(mebibytes)) throw new Error(`unexpected memory limit ${limit}`);
  return `${mebibytes}m`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

beforeAll(async () => {
  const env = await ensureDeps(["docker"]);
  const dockerEnv = { DOCKER_HOST: env.PARLEY_TEST_DOCKER_HOST ?? "" };
  const bin = env.PARLEY_TEST_DOCKER ?? "docker";
  docker = (args) => run(bin, args, { env: dockerEnv, timeoutMs: 20 * 60_000 });
  const started = performance.now();
  const build = await docker(["build", "--network", "host", "-t", IMAGE, REPO]);
  buildSeconds = (performance.now() - started) / 1000;
  if (build.code !== 0)
    throw new Error(`docker build failed:\n${build.stdout.slice(-4000)}\n${build.stderr}`);
  await docker(["image", "prune", "-f"]); // the build stages' leftovers
  [port, adminPort] = await Promise.all([freePort(), freePort()]);
  chownSync(dataDir, 10001, 10001);
  const runResult = await docker([
    "run",
    "-d",
    "--network",
    "host",
    "--memory",
    allInOneMemoryLimit(),
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--volume",
    `${dataDir}:/data`,
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "-e",
    `PORT=${port}`,
    "-e",
    `PARLEY_ADMIN_PORT=${adminPort}`,
    "-e",
    "PARLEY_BIND_HOST=127.0.0.1",
    IMAGE,
  ]);
  expect(runResult.code, runResult.stderr).toBe(0);
  container = runResult.stdout.trim();
  // Ready once both /readyz answer 200 (PGlite's first open takes seconds); a stopped container
  // fails at once. The public one says the services the gateway calls serve; only the admin one
  // also waits for every target of the process to finish starting (and its dependencies).
  let polls = 0;
  await eventually(async () => {
    const ready = async (at: number) =>
      (await fetch(`http://127.0.0.1:${at}/readyz`).catch(() => undefined))?.status === 200;
    if ((await ready(port)) && (await ready(adminPort))) return true;
    if (polls++ % 40 !== 0) return false;
    const state = await docker(["inspect", "-f", "{{.State.Running}} {{.State.OOMKilled}}", container]);
    const [running, oomKilled] = state.stdout.trim().split(" ");
    if (running !== "true") {
      const logs = await docker(["logs", container]);
      const why =
        oomKilled === "true"
          ? `was killed at the chart's memory limit (${allInOneMemoryLimit()})`
          : "stopped";
      throw new Error(`the container ${why}:\n${logs.stdout}\n${logs.stderr}`);
    }
    return false;
  }, 180_000);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  if (container) await docker(["rm", "-f", container]);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the image", () => {
  it("runs as a non-root user, by number, with ENTRYPOINT the launcher", async () => {
    const config = JSON.parse((await docker(["image", "inspect", IMAGE])).stdout)[0].Config;
    expect(config.User).toBe("10001:10001");
    expect(config.Entrypoint).toEqual(["node", "services/main.js"]);
    expect(config.Cmd).toEqual(["--target=all"]);
    // The process itself, seen from the host: not root.
    const pid = (await docker(["inspect", "-f", "{{.State.Pid}}", container])).stdout.trim();
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    expect(uids?.[1]).toBe("10001");
    expect(uids?.[2]).toBe("10001");
  });

  it("holds production dependencies only and reports its size", async () => {
    const listing = await docker(["run", "--rm", "--entrypoint", "ls", IMAGE, "node_modules"]);
    expect(listing.code, listing.stderr).toBe(0);
    const modules = listing.stdout.split("\n");
    expect(modules).toContain("@grpc");
    for (const dev of ["vitest", "typescript", "tsx", "@biomejs", "node"]) expect(modules).not.toContain(dev);
    const sources = await docker(["run", "--rm", "--entrypoint", "find", IMAGE, "services", "-name", "*.ts"]);
    expect(sources.stdout.trim()).toBe("");
    const size = Number((await docker(["image", "inspect", "-f", "{{.Size}}", IMAGE])).stdout.trim());
    console.log(`image ${IMAGE}: ${(size / 1e6).toFixed(0)} MB, built in ${buildSeconds.toFixed(0)} s`);
    expect(size).toBeGreaterThan(50e6);
    expect(size).toBeLessThan(600e6);
  });

  it("serves /metrics, /healthz and /readyz on its admin port", async () => {
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    expect(await metrics.text()).toContain("parley_rpc_duration_seconds");
    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    expect(ready.status, await ready.text()).toBe(200);
  });

  it("sizes V8's heap to 75% of the container's memory limit (Node's default is 50%)", async () => {
    const heap = await docker([
      "run",
      "--rm",
      "--network",
      "none",
      "--memory",
      "512m",
      "--entrypoint",
      "node",
      IMAGE,
      "-p",
      "require('node:v8').getHeapStatistics().heap_size_limit / 2 ** 20",
    ]);
    expect(heap.code, heap.stderr).toBe(0);
    // 75% of 512 MiB is 384 MiB of old space; the limit adds the young generation's few MiB.
    expect(Number(heap.stdout.trim())).toBeGreaterThanOrEqual(384);
    expect(Number(heap.stdout.trim())).toBeLessThan(420);
  });

  it("keeps stderr free of the TimeoutNegativeWarning kafkajs provokes", async () => {
    const run = await docker([
      "run",
      "--rm",
      "--network",
      "none",
      "--entrypoint",
      "node",
      IMAGE,
      "-e",
      "setTimeout(() => console.log('ran'), -1)",
    ]);
    expect({ code: run.code, out: run.stdout.trim(), err: run.stderr.trim() }).toEqual({
      code: 0,
      out: "ran",
      err: "",
    });
  });

  it("selects its targets with --target (one image for every target)", async () => {
    const list = await docker(["run", "--rm", "--network", "none", IMAGE, "--list-targets"]);
    expect(list.code, list.stderr).toBe(0);
    for (const target of ["gateway", "auth", "messages", "groups", "crypto"])
      expect(list.stdout).toContain(target);
  });
});

describe("the seed walk against the container", () => {
  restScenarios(() => ({ url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}` }));
});
