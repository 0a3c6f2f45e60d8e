/**
 * Live-delivery benchmarks (issue 5), with many connected WebSocket clients in separate client
 * processes (bench/stream-clients.ts):
 *   idle     — idle streams one gateway process holds, and its RSS;
 *   fanout   — one group message to N online members: time until the last one has it;
 *   resume   — a device that missed N events reconnects with its cursor: time to catch up;
 *   latency  — send→deliver latency at a ladder of fixed send rates (open loop), plotted over time.
 *
 *   npm run bench:delivery -- --mode aio  --sections idle,fanout,resume
 *   npm run bench:delivery -- --mode mesh --sections latency --profile
 *
 * `--mode aio` starts an all-in-one Parley (embedded stores) in a child process; `--mode mesh`
 * starts one process per service on the real servers of deps/up.sh (.deps/env). Figures go to
 * docs/benchmarks.md ("Live delivery", a section per mode and benchmark), plots to
 * docs/delivery-latency-<mode>.svg, CPU profiles (--profile) to .bench/. `--compiled` runs Parley
 * as the image does (compiled, plain node); `--heap-mib N` caps V8's old space as a pod's memory
 * limit does (the image: 75% of it).
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { buildCompiled } from "../scripts/compiled-build.js";
import { freePorts } from "../scripts/mesh/plan.js";
import { NODE_RUNTIME_FLAGS } from "../services/kit/runtime-flags.js";
import { cpuBetween, sampleCpu } from "./cpu-accounting.js";
import { type ProfileSummary, summarise, summaryMarkdown } from "./cpuprofile.js";
import { census, growth, growthMarkdown } from "./heapsnapshot.js";
import { bucketQuantile, histogramBuckets, metricsText } from "./histogram.js";
import { pacedLoad, post, quantiles } from "./paced.js";
import { cpuTable, writeSection } from "./report.js";
import { type LatencyRun, latencySvg } from "./svg.js";

const REPO = join(import.meta.dirname, "..");
const { values } = parseArgs({
  allowNegative: true,
  options: {
    mode: { type: "string", default: "aio" },
    sections: { type: "string", default: "idle,fanout,resume,latency" },
    users: { type: "string", default: "1000" },
    "idle-streams": { type: "string", default: "19000" },
    "fanout-messages": { type: "string", default: "50" },
    "fanout-warmup": { type: "string", default: "3" },
    "resume-events": { type: "string", default: "10000" },
    "latency-users": { type: "string", default: "200" },
    rates: { type: "string", default: "100,200,400,800,1200,2000" },
    duration: { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
    // Heap snapshots of the gateway before and after the idle streams open (what a stream costs).
    heap: { type: "boolean", default: false },
    // V8's old-space limit for every Parley process, in MiB, as a pod's memory limit sets it
    // (the chart: 75% of the container's limit). Unset: Node's default for this machine (~4 GiB).
    "heap-mib": { type: "string" },
    // Run Parley compiled, on plain node, as the image does (scripts/compiled-build.ts), not via tsx.
    compiled: { type: "boolean", default: false },
    write: { type: "boolean", default: true },
    // Latency ladder: send each message with a clientMessageId, as the web app does (the
    // idempotent path: its claim and mark in SQL), instead of without.
    "client-message-ids": { type: "boolean", default: false },
  },
});
const mode = values.mode as "aio" | "mesh";
if (mode !== "aio" && mode !== "mesh") throw new Error("--mode aio|mesh");
const sections = values.sections.split(",");
const command = `npm run bench:delivery -- ${process.argv.slice(2).join(" ")}`;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const now = () => performance.timeOrigin + performance.now();
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

// ---------------------------------------------------------------- the system under test

interface Target {
  url: string;
  /** Admin endpoints (/metrics) of the gateway and delivery. */
  gatewayAdmin: string;
  /** The pid whose RSS counts as "the gateway process". */
  gatewayPid(): number | undefined;
  /** Stops it; with --profile, resolves to the profiles written, by process name. */
  stop(): Promise<Record<string, string>>;
}

const LIMITS = {
  PARLEY_MESSAGES_SEND_LIMIT: "100000000",
  PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS: "1000000",
  PARLEY_AUTH_LOGIN_LIMIT_PER_USERNAME: "1000000",
  LOG_LEVEL: "warn",
};

/** The gateway's send→deliver histogram (append → written to the stream), all transports. */
const SEND_TO_DELIVER = "parley_events_send_to_deliver_seconds";

const profileDir = join(REPO, ".bench", `profiles-${mode}-${Date.now().toString(36)}`);
const heapDir = join(REPO, ".bench", `heap-${mode}-${Date.now().toString(36)}`);
const heapFlags = [
  ...(values.heap ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${heapDir}`] : []),
  ...(values["heap-mib"] ? [`--max-old-space-size=${Number(values["heap-mib"])}`] : []),
];
if (values.heap) mkdirSync(heapDir, { recursive: true });

/** The folder Parley runs from: the compiled build with --compiled, else the source tree. */
const runDir = values.compiled ? buildCompiled(REPO) : REPO;
const entry = values.compiled ? ["services/main.js"] : ["--import", "tsx", "services/main.ts"];

async function startAllInOne(): Promise<Target> {
  const ports = await freePorts();
  const dataDir = mkdtempSync(join(tmpdir(), "parley-bench-"));
  if (values.profile) mkdirSync(profileDir, { recursive: true });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...NODE_RUNTIME_FLAGS,
      ...(values.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
      ...heapFlags,
      ...entry,
    ],
    {
      cwd: runDir,
      env: {
        ...process.env,
        PORT: String(ports.public),
        PARLEY_ADMIN_PORT: String(ports.admin.gateway),
        PARLEY_BIND_HOST: "127.0.0.1",
        PARLEY_DATA_DIR: dataDir,
        ...LIMITS,
      },
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  process.once("exit", () => child.kill("SIGTERM"));
  const url = `http://127.0.0.1:${ports.public}`;
  for (const deadline = Date.now() + 120_000; ; await pause(200)) {
    // A V8 fatal error aborts: a signal, no exit code.
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`parley exited with ${child.exitCode ?? child.signalCode}`);
    }
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) throw new Error("parley not ready in 120 s");
  }
  const pid = child.pid;
  return {
    url,
    gatewayAdmin: `http://127.0.0.1:${ports.admin.gateway}`,
    gatewayPid: () => pid,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      const files: string[] = values.profile
        ? readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile"))
        : [];
      const found: Record<string, string> = {};
      for (const file of files) found[threadName("all-in-one", file)] = join(profileDir, file);
      return found;
    },
  };
}

async function startMeshTarget(): Promise<Target> {
  const { readDepsEnv } = await import("../test/real-servers.js");
  Object.assign(process.env, readDepsEnv());
  const { startTestMesh } = await import("../test/mesh.js");
  if (values.profile) mkdirSync(profileDir, { recursive: true });
  const mesh = await startTestMesh({
    compiledBuild: values.compiled ? runDir : undefined,
    extraEnv: {
      ...LIMITS,
      NODE_OPTIONS: [
        ...(values.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
        ...heapFlags,
      ].join(" "),
    },
  });
  return {
    url: mesh.url,
    gatewayAdmin: mesh.processes.gateway.adminUrl,
    gatewayPid: () => mesh.processes.gateway.pid,
    async stop() {
      const pids = Object.fromEntries(
        Object.entries(mesh.processes).map(([name, p]) => [String(p.pid), name]),
      );
      await mesh.stop();
      const found: Record<string, string> = {};
      for (const file of values.profile ? readdirSync(profileDir) : []) {
        // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
        const pid = file.split(".")[3] ?? "";
        const name = pids[pid];
        if (name && file.endsWith(".cpuprofile")) found[threadName(name, file)] = join(profileDir, file);
      }
      return found;
    },
  };
}

/**
 * A profile's name: the process's for its main thread, with the thread id for a worker thread
 * (the all-in-one process runs its PGlite databases in one). Files are named
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
 */
function threadName(processName: string, file: string): string {
  const thread = file.split(".")[4] ?? "0";
  return thread === "0" ? processName : `${processName} worker thread ${thread}`;
}

// ---------------------------------------------------------------- clients

interface User {
  userId: string;
  username: string;
  token: string;
}

async function registerUsers(url: string, n: number, prefix: string): Promise<User[]> {
  const started = Date.now();
  const users: User[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const username = `${prefix}_${i}`;
      const password = "bench-password-1";
      const reg = await post(url, "/auth/register", { username, password });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
      const login = await post(url, "/auth/login", { username, password });
      if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
      users[i] = { userId: reg.body.userId, username, token: login.body.token };
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  log(`registered ${n} users in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return users;
}

/** A forked process of WebSocket stream clients (bench/stream-clients.ts). */
class ClientProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, ((msg: unknown) => void)[]>();

  constructor() {
    this.child = fork(join(import.meta.dirname, "stream-clients.ts"), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (msg: { type: string }) => this.waiting.get(msg.type)?.shift()?.(msg));
  }

  private ask<T>(command: object, reply: string): Promise<T> {
    return new Promise<T>((resolve) => {
      const list = this.waiting.get(reply) ?? [];
      list.push((msg) => resolve(msg as T));
      this.waiting.set(reply, list);
      this.child.send(command);
    });
  }

  open(
    url: string,
    tokens: string[],
    perToken = 1,
    count?: number,
  ): Promise<{
    open: number;
    failed: number;
    retried: number;
    retries: number;
    ms: number;
    firstError?: string;
  }> {
    const addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];
    return this.ask({ type: "open", url, tokens, perToken, count, addresses, concurrency: 64 }, "opened");
  }

  async take(): Promise<[string, number, number][]> {
    return (await this.ask<{ receipts: [string, number, number][] }>({ type: "take" }, "taken")).receipts;
  }

  stats(): Promise<{ open: number; closed: number; rss: number }> {
    return this.ask({ type: "stats" }, "stats");
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.send({ type: "close" });
    await exited;
  }
}

/** One stream in this process: resolves LIVE with its cursor; counts bench messages. */
function stream(url: string, token: string, cursor?: string) {
  const q = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const socket = new WebSocket(`${url.replace(/^http/, "ws")}/v1/events/ws${q}`, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  const state = { messages: 0, firstAt: 0, liveAt: 0, liveCursor: "", beforeLive: 0 };
  let onLive!: () => void;
  const live = new Promise<void>((resolve, reject) => {
    onLive = resolve;
    socket.on("error", reject);
    socket.on("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  socket.on("message", (data) => {
    const text = data.toString();
    if (text.includes('"content":"b:')) {
      state.messages++;
      if (!state.firstAt) state.firstAt = now();
      if (!state.liveAt) state.beforeLive++;
    } else if (text.includes("STREAM_CONTROL_KIND_LIVE")) {
      state.liveAt = now();
      state.liveCursor = JSON.parse(text).cursor;
      onLive();
    }
  });
  return { state, live, close: () => socket.terminate() };
}

// ---------------------------------------------------------------- measurements

const ms = (x: number) => (Number.isNaN(x) ? "–" : x < 10 ? x.toFixed(1) : Math.round(x).toString());

/** Signals the gateway to write a heap snapshot (--heapsnapshot-signal) and returns its file. */
async function heapSnapshot(target: Target): Promise<string> {
  const before = new Set(readdirSync(heapDir));
  process.kill(target.gatewayPid() as number, "SIGUSR2");
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    await pause(500);
    // The snapshot is written on the main thread: an answer means it is complete.
    await metricsText(target.gatewayAdmin).catch(() => "");
    const fresh = readdirSync(heapDir).find((f) => !before.has(f) && f.endsWith(".heapsnapshot"));
    if (fresh) return join(heapDir, fresh);
  }
  throw new Error("no heap snapshot written");
}

/** The JS heap's live bytes, the heap V8 holds from the OS (committed), and Node's external memory. */
async function heapOf(admin: string): Promise<{ used: number; total: number; external: number }> {
  const text = await metricsText(admin);
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    used: gauge("nodejs_heap_size_used_bytes"),
    total: gauge("nodejs_heap_size_total_bytes"),
    external: gauge("nodejs_external_memory_bytes"),
  };
}

function rssOf(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

/** The latency ladder's span (after warm-up), for --profile: microseconds, monotonic clock. */
const profileWindow: [number, number] = [0, Number.MAX_SAFE_INTEGER];
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

const results: Record<string, string> = {};
function record(section: string, markdown: string) {
  results[section] = markdown;
  console.log(`\n${markdown}\n`);
  if (values.write) {
    writeSection(
      `delivery-${mode}-${section}`,
      `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}; load average before: ${loadBefore}.\n` +
        `Command: \`${command}\`\n\n${markdown}`,
    );
  }
}
const loadBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function idle(target: Target, users: User[]) {
  const total = Number(values["idle-streams"]);
  const perProcess = 9_500; // under the container's 20,000-descriptor limit per process
  const workers = Math.ceil(total / perProcess);
  await pause(3_000);
  const rssBefore = rssOf(target.gatewayPid());
  const heapBefore = await heapOf(target.gatewayAdmin);
  const snapshotBefore = values.heap ? await heapSnapshot(target) : undefined;
  const clients: ClientProcess[] = [];
  const started = Date.now();
  let opened = 0;
  let failed = 0;
  let retried = 0;
  let firstError: string | undefined;
  try {
    for (let w = 0; w < workers; w++) {
      const want = Math.min(perProcess, total - w * perProcess);
      const tokens = users.map((u) => u.token);
      const perToken = Math.ceil(want / tokens.length);
      const client = new ClientProcess();
      clients.push(client);
      const result = await client.open(target.url, tokens, perToken, want);
      opened += result.open;
      failed += result.failed;
      retried += result.retried;
      firstError ??= result.firstError;
      log(
        `idle: client process ${w + 1}/${workers}: ${result.open} open (${result.retried} after retries), ${result.failed} failed in ${result.ms} ms`,
      );
    }
    const openMs = Date.now() - started;
    await pause(5_000);
    const rssOpen = rssOf(target.gatewayPid());
    const gauge = [
      ...(await metricsText(target.gatewayAdmin)).matchAll(/parley_events_open_streams\{[^}]*\} (\d+)/g),
    ]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
    // Idle for a while: heartbeats and presence refreshes run; memory should stay flat.
    await pause(30_000);
    const rssLater = rssOf(target.gatewayPid());
    const heapLater = await heapOf(target.gatewayAdmin);
    const stats = await Promise.all(clients.map((c) => c.stats()));
    const stillOpen = stats.reduce((a, s) => a + s.open, 0);
    const perStream = (rssLater - rssBefore) / Math.max(1, stillOpen);
    const heapPerStream = (heapLater.used - heapBefore.used) / Math.max(1, stillOpen);
    const snapshotAfter = snapshotBefore ? await heapSnapshot(target) : undefined;
    const snapshots =
      snapshotBefore && snapshotAfter
        ? `\n\n${growthMarkdown(growth(census(snapshotBefore), census(snapshotAfter), stillOpen), "per stream")}`
        : "";
    record(
      "idle",
      [
        "| streams asked | opened (client) | open per gateway gauge | still open after 30 s idle | opened after retries | failed | open time | gateway RSS before | with streams | after 30 s idle | **RSS per stream** | JS heap used before → after | heap per stream | heap committed before → after | external before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        `| ${total} | ${opened} | ${gauge} | ${stillOpen} | ${retried} | ${failed}${firstError ? ` (first error: ${firstError})` : ""} | ${(openMs / 1000).toFixed(1)} s | ${mib(rssBefore)} MiB | ${mib(rssOpen)} MiB | ${mib(rssLater)} MiB | **${(perStream / 1024).toFixed(1)} KiB** | ${mib(heapBefore.used)} → ${mib(heapLater.used)} MiB | ${(heapPerStream / 1024).toFixed(1)} KiB | ${mib(heapBefore.total)} → ${mib(heapLater.total)} MiB | ${mib(heapBefore.external)} → ${mib(heapLater.external)} MiB |`,
        "",
        `RSS is the gateway process's (${mode === "aio" ? "the whole all-in-one process" : "the mesh's gateway process alone"}), from /proc; heap from its own \`nodejs_heap_size_used_bytes\`.${snapshots}`,
      ].join("\n"),
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function fanout(target: Target, users: User[]) {
  const members = users.slice(0, Math.min(users.length, 1000));
  const owner = members[0] as User;
  const created = await post(
    target.url,
    "/groups/create",
    { name: "bench fan-out", members: members.slice(1).map((u) => u.username) },
    owner.token,
  );
  if (created.status !== 201)
    throw new Error(`group create: ${created.status} ${JSON.stringify(created.body)}`);
  const groupId = created.body.groupId;
  const client = new ClientProcess();
  try {
    const opened = await client.open(
      target.url,
      members.map((u) => u.token),
    );
    log(
      `fanout: ${opened.open} member streams open (${opened.retried} after retries, ${opened.failed} failed${opened.firstError ? `; first error: ${opened.firstError}` : ""}) in ${opened.ms} ms`,
    );
    await pause(2_000);
    await client.take();
    const rows: { ack: number; first: number; last: number; got: number }[] = [];
    const count = Number(values["fanout-messages"]);
    // The first messages open delivery's push stream to the node and warm the JIT: reported apart.
    const warmup = Number(values["fanout-warmup"]);
    for (let k = 0; k < warmup + count; k++) {
      const tag = `b:fo.${k}`;
      const t0 = now();
      const sent = await post(target.url, `/groups/${groupId}/send`, { message: tag }, owner.token);
      const ack = now() - t0;
      if (sent.status !== 200) throw new Error(`group send: ${sent.status}`);
      let got = 0;
      let first = Number.POSITIVE_INFINITY;
      let last = 0;
      for (const deadline = Date.now() + 30_000; got < opened.open && Date.now() < deadline; ) {
        await pause(20);
        for (const [t, at] of await client.take()) {
          if (t !== tag) continue;
          got++;
          first = Math.min(first, at);
          last = Math.max(last, at);
        }
      }
      rows.push({ ack, first: first - t0, last: last - t0, got });
      await pause(200);
    }
    const cold = rows.splice(0, warmup);
    const slowest = rows
      .map((r, k) => ({ k, last: r.last }))
      .sort((a, b) => b.last - a.last)
      .slice(0, 5);
    log(`fanout: slowest messages (index: ms): ${slowest.map((r) => `${r.k}: ${ms(r.last)}`).join(", ")}`);
    const last = quantiles(rows.map((r) => r.last));
    const first = quantiles(rows.map((r) => r.first));
    const ack = quantiles(rows.map((r) => r.ack));
    const complete = rows.filter((r) => r.got === opened.open).length;
    record(
      "fanout",
      [
        `${count} group messages, one at a time, to a group of ${members.length} members, each with one WebSocket stream open (${opened.open}; ${opened.retried} of them opened only after retries with backoff, ${opened.failed} never opened); ${complete}/${count} reached every stream. Before them, ${warmup} warm-up messages (the first opens delivery's push stream to the node), not in the table: the last member had them after ${cold.map((r) => `${ms(r.last)} ms`).join(", ") || "–"}.`,
        "",
        "| from the send request to … | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        `| the send's acknowledgement | ${ms(ack.p50)} | ${ms(ack.p90)} | ${ms(ack.p99)} | ${ms(ack.max)} |`,
        `| the first member has it | ${ms(first.p50)} | ${ms(first.p90)} | ${ms(first.p99)} | ${ms(first.max)} |`,
        `| **the last member has it** | **${ms(last.p50)}** | ${ms(last.p90)} | **${ms(last.p99)}** | ${ms(last.max)} |`,
      ].join("\n"),
    );
  } finally {
    await client.close();
  }
}

async function resume(target: Target, users: User[]) {
  const [sender, reader] = users.slice(-2) as [User, User];
  const total = Number(values["resume-events"]);
  // The reader's device goes away at the head; the sender's own device tells when delivery is done.
  const first = stream(target.url, reader.token);
  await first.live;
  const cursor = first.state.liveCursor;
  first.close();
  const watcher = stream(target.url, sender.token);
  await watcher.live;
  const started = Date.now();
  let next = 0;
  const send = async () => {
    while (next < total) {
      const k = next++;
      for (let attempt = 0; ; attempt++) {
        const res = await post(
          target.url,
          "/chat/send",
          { recipient: reader.username, message: `b:rs.${k}` },
          sender.token,
        );
        if (res.status === 200) break;
        if (attempt > 5) throw new Error(`send: ${res.status}`);
        await pause(100);
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, send));
  const sendMs = Date.now() - started;
  for (const deadline = Date.now() + 600_000; watcher.state.messages < total; await pause(100)) {
    if (Date.now() > deadline) throw new Error(`delivery wrote only ${watcher.state.messages} of ${total}`);
  }
  watcher.close();
  log(`resume: ${total} messages sent in ${(sendMs / 1000).toFixed(1)} s and fanned out`);
  const rows: string[] = [];
  for (let run = 0; run < 3; run++) {
    const t0 = now();
    const again = stream(target.url, reader.token, cursor);
    await again.live;
    const s = again.state;
    rows.push(
      `| ${run + 1} | ${s.beforeLive} | ${ms(s.firstAt - t0)} | **${ms(s.liveAt - t0)}** | ${Math.round((s.beforeLive / (s.liveAt - t0)) * 1000)} |`,
    );
    again.close();
  }
  record(
    "resume",
    [
      `A device saw LIVE, went away, and ${total} messages were sent to its user (and written to the inbox); then it reconnects with its cursor over WebSocket (replay pages of 500), three times.`,
      "",
      "| run | events replayed before LIVE | first event ms | **caught up (LIVE) ms** | events/s |",
      "|---|---|---|---|---|",
      ...rows,
    ].join("\n"),
  );
}

async function latency(target: Target, users: User[]) {
  const n = Math.min(users.length, Number(values["latency-users"]));
  const group = users.slice(0, n);
  const rates = values.rates.split(",").map(Number);
  const duration = Number(values.duration);
  const client = new ClientProcess();
  const runs: LatencyRun[] = [];
  const rows: string[] = [];
  const cpuSteps: Parameters<typeof cpuTable>[0] = [];
  let saturatedAt: number | undefined;
  try {
    const opened = await client.open(
      target.url,
      group.map((u) => u.token),
    );
    log(`latency: ${opened.open} streams open`);
    // Warm-up: JIT, caches, and every conversation the ladder uses (sender k % n writes to one of
    // its next 7 users: n × 7 conversations), so the steps measure chat in existing conversations,
    // not each one's first message (a data key from crypto in messages, its unwrap in delivery).
    await ladderStep("warm", 200, Math.ceil((n * 7) / 200));
    await client.take();
    profileWindow[0] = monotonicUs();
    for (const rate of rates) {
      const step = await ladderStep(`r${rate}`, rate, duration);
      runs.push({ label: `${rate}/s`, samples: step.samples });
      rows.push(step.row);
      cpuSteps.push(step.cpu);
      log(step.row);
      if (step.saturated) {
        saturatedAt = rate;
        break;
      }
    }
  } finally {
    profileWindow[1] = monotonicUs();
    await client.close();
  }
  if (values.write) {
    writeFileSync(
      join(REPO, "docs", `delivery-latency-${mode}.svg`),
      latencySvg(
        `send → deliver latency over time, ${mode === "aio" ? "all-in-one" : "mesh"}, ${n} users with a WebSocket stream each (${new Date().toISOString().slice(0, 10)})`,
        runs,
      ),
    );
  }
  record(
    "latency",
    [
      `${n} users, each with one WebSocket stream (in a client process); senders pick a recipient among them; each message reaches two streams (the recipient's and the sender's own). Latency is from issuing the REST send (open loop, fixed rate) to the event arriving on a stream; "gateway" is the gateway's own histogram (durable append → written to the stream, bucket upper bounds); "Parley CPU" is the CPU time of every Parley process and thread (from /proc) during the step and its settling, over the sends acknowledged — robust to other load on the cores, unlike the latencies.`,
      "",
      "| offered/s | acked/s | send ack p50/p99 ms | deliver p50 | **p99** | p99.9 ms | delivered/expected | failed sends | gateway p50/p99 ms | Parley CPU ms/msg |",
      "|---|---|---|---|---|---|---|---|---|---|",
      ...rows,
      "",
      saturatedAt
        ? `Saturated at ${saturatedAt}/s offered (acked rate < 90 % of offered or p99 > 2 s): the ladder stopped there.`
        : "Did not saturate within the ladder.",
      ...cpuTable(cpuSteps),
      "",
      `Plot: [docs/delivery-latency-${mode}.svg](delivery-latency-${mode}.svg)`,
    ].join("\n"),
  );

  async function ladderStep(label: string, rate: number, seconds: number) {
    const before = histogramBuckets(await metricsText(target.gatewayAdmin), SEND_TO_DELIVER);
    const rolesBefore = sampleCpu(REPO, mode === "mesh");
    const sentAt = new Map<string, number>();
    let failures = 0;
    const start = now();
    const step = await pacedLoad({
      rate,
      seconds,
      maxInFlight: 2048,
      send: async (k) => {
        const from = k % n;
        const to = (from + 1 + (k % 7)) % n;
        const tag = `b:${label}.${k}`;
        sentAt.set(tag, now());
        const recipient = (group[to] as User).username;
        const res = await post(
          target.url,
          "/chat/send",
          values["client-message-ids"]
            ? { recipient, message: tag, clientMessageId: tag }
            : { recipient, message: tag },
          (group[from] as User).token,
        );
        if (res.status === 200) return true;
        if (failures++ === 0) log(`${label}: first failed send: ${res.status} ${JSON.stringify(res.body)}`);
        sentAt.delete(tag);
        return false;
      },
    });
    const { ok: acked, failed, skipped } = step;
    const issuedFor = step.seconds;
    // Wait for the deliveries to settle: every acked message twice, or 15 s without progress.
    const receipts: [string, number, number][] = [];
    for (let quietSince = Date.now(); receipts.length < acked * 2 && Date.now() - quietSince < 15_000; ) {
      await pause(200);
      const got = await client.take();
      if (got.length) quietSince = Date.now();
      // A loop, not push(...): a long step's deliveries are more arguments than the stack holds.
      for (const receipt of got) if (receipt[0].startsWith(`b:${label}.`)) receipts.push(receipt);
    }
    const perSend = cpuBetween(rolesBefore, sampleCpu(REPO, mode === "mesh")).map(
      ([role, seconds]): [string, number] => [role, (seconds * 1000) / Math.max(1, acked)],
    );
    const cpuMsPerMessage = perSend.reduce(
      (sum, [role, ms]) => (role.startsWith("parley") ? sum + ms : sum),
      0,
    );
    const after = histogramBuckets(await metricsText(target.gatewayAdmin), SEND_TO_DELIVER);
    const samples: [number, number][] = [];
    for (const [tag, at] of receipts) {
      const t0 = sentAt.get(tag);
      if (t0 !== undefined) samples.push([(t0 - start) / 1000, at - t0]);
    }
    const d = quantiles(samples.map((s) => s[1]));
    const a = quantiles(step.latenciesMs);
    const ackRate = acked / issuedFor;
    const saturated = ackRate < rate * 0.9 || d.p99 > 2000;
    const row = `| ${rate} | ${Math.round(ackRate)} | ${ms(a.p50)} / ${ms(a.p99)} | ${ms(d.p50)} | **${ms(d.p99)}** | ${ms(d.p999)} | ${receipts.length}/${acked * 2} | ${failed + skipped} | ${ms(bucketQuantile(before, after, 0.5))} / ${ms(bucketQuantile(before, after, 0.99))} | ${cpuMsPerMessage.toFixed(2)} |`;
    return { samples, row, saturated, cpu: { label: `${rate}/s`, perSend } };
  }
}

// ---------------------------------------------------------------- main

log(
  `starting ${mode} (${sections.join(", ")})${values.profile ? " with --cpu-prof" : ""}; load ${loadBefore}`,
);
const target = mode === "aio" ? await startAllInOne() : await startMeshTarget();
let profiles: Record<string, string> = {};
try {
  const need = Math.max(
    sections.includes("idle") || sections.includes("fanout") ? Number(values.users) : 0,
    sections.includes("latency") ? Number(values["latency-users"]) : 0,
    sections.includes("resume") ? 2 : 0,
  );
  const users = await registerUsers(target.url, Math.max(need, 2), `bd${Date.now().toString(36)}`);
  if (sections.includes("idle")) await idle(target, users);
  if (sections.includes("fanout")) await fanout(target, users);
  if (sections.includes("resume")) await resume(target, users);
  if (sections.includes("latency")) await latency(target, users);
} finally {
  profiles = await target.stop();
}
if (values.profile) {
  const parts: string[] = [];
  const summaries: ProfileSummary[] = [];
  const order = ["all-in-one", "gateway", "delivery", "messages"];
  const rank = (name: string) => order.findIndex((o) => name.startsWith(o));
  for (const [name, file] of Object.entries(profiles)
    .filter(([name]) => rank(name) >= 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))) {
    const summary = summarise(file, 15, profileWindow);
    summaries.push(summary);
    parts.push(summaryMarkdown(`${name} (${file.replace(`${REPO}/`, "")})`, summary));
  }
  // PGlite's share of all the CPU profiled, whichever thread ran it.
  const busy = summaries.reduce((sum, s) => sum + s.totalMs - s.idleMs, 0);
  const pglite = summaries
    .flatMap((s) => s.packages)
    .filter((p) => p.name === "@electric-sql/pglite" || p.name.startsWith("wasm://"))
    .reduce((sum, p) => sum + p.ms, 0);
  record(
    "profile",
    `CPU profiles (\`--cpu-prof\`) of the run above, counting only samples taken during the measured latency ladder (after warm-up). PGlite (\`@electric-sql/pglite\` + \`wasm://\`), all threads: **${(pglite / 1000).toFixed(1)} s of ${(busy / 1000).toFixed(1)} s busy (${((pglite / (busy || 1)) * 100).toFixed(1)} %)**.\n\n${parts.join("\n\n")}`,
  );
}
process.exit(0);
