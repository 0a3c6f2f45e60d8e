/**
 * REST send benchmark: many users and conversations, POST /chat/send at fixed rates and flat out.
 *   npm run bench                      # starts its own all-in-one Parley in a child process
 *   PARLEY_URL=http://host:8080 npm run bench   # against a running one
 * Writes docs/benchmarks.md (the send section) and prints the figures.
 */
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { type CpuSample, cpuBetween, sampleCpu } from "./cpu-accounting.js";
import { spawnParley } from "./parley-process.js";
import { writeReport } from "./report.js";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "200" },
    duration: { type: "string", default: "15" },
    rates: { type: "string", default: "1000,1500,2000,2500,3000" },
    connections: { type: "string", default: "64" },
    // The docs/benchmarks.md section to (re)write: "send" for all-in-one, "send-mesh" for a mesh.
    section: { type: "string", default: "send" },
    // Send each message with a clientMessageId, as the web app does (the idempotent path: SQL per send).
    "client-message-ids": { type: "boolean", default: false },
  },
});
const users = Number(values.users);
const duration = Number(values.duration);
const rates = values.rates.split(",").map(Number);
const connections = Number(values.connections);

const external = process.env.PARLEY_URL;
// The send and login limits protect a real deployment; the bench sends far above them from one address.
const parley = external
  ? { url: external, stop: async () => {} }
  : await spawnParley({
      PARLEY_MESSAGES_SEND_LIMIT: "1000000",
      PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS: "100000",
    });

async function post(path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${parley.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

try {
  const run = Date.now().toString(36);
  const names = Array.from({ length: users }, (_, i) => `bench_${run}_${i}`);
  // Registration and login hash with argon2id (~36 ms each): do them a few at a time.
  const tokens: string[] = [];
  for (let i = 0; i < names.length; i += 16) {
    const chunk = names.slice(i, i + 16);
    await Promise.all(
      chunk.map((username) => post("/auth/register", { username, password: "bench-password-1" })),
    );
    const logins = await Promise.all(
      chunk.map((username) => post("/auth/login", { username, password: "bench-password-1" })),
    );
    tokens.push(...logins.map((l) => String(l.token)));
  }

  let n = 0;
  const request: autocannon.Request = {
    method: "POST",
    path: "/chat/send",
    setupRequest(req) {
      n++;
      const from = n % users;
      const to = (from + 1 + (n % 7)) % users;
      req.headers = { "content-type": "application/json", authorization: `Bearer ${tokens[from]}` };
      const message = `message ${n} from ${from} to ${to}`;
      req.body = JSON.stringify(
        values["client-message-ids"]
          ? { recipient: names[to], message, clientMessageId: `${run}-${n}` }
          : { recipient: names[to], message },
      );
      return req;
    },
  };

  const results: {
    label: string;
    target: number | undefined;
    result: autocannon.Result;
    cpu: [string, number][];
  }[] = [];
  const runOnce = async (label: string, overallRate?: number) => {
    const before: CpuSample = sampleCpu(process.cwd(), Boolean(external));
    const result = await autocannon({
      url: parley.url,
      connections,
      duration,
      ...(overallRate ? { overallRate } : {}),
      requests: [request],
    });
    const sends = Math.max(1, result["2xx"]);
    const cpu = cpuBetween(before, sampleCpu(process.cwd(), Boolean(external))).map(
      ([role, seconds]): [string, number] => [role, (seconds * 1000) / sends],
    );
    results.push({ label, target: overallRate, result, cpu });
    const l = result.latency;
    console.log(
      `${label}: ${Math.round(result.requests.average)} req/s, p50 ${l.p50} ms, p99 ${l.p99} ms, p99.9 ${l.p99_9} ms, non-2xx ${result.non2xx}, errors ${result.errors}`,
    );
  };

  // Warm up JIT, caches and data keys before measuring.
  await runOnce("warm-up", 500);
  results.length = 0;
  for (const rate of rates) await runOnce(`${rate}/s`, rate);
  await runOnce("flat out");

  const holds = results.filter(
    (r) =>
      r.target !== undefined &&
      r.result.requests.average >= r.target * 0.97 &&
      r.result.non2xx === 0 &&
      r.result.errors === 0 &&
      r.result.latency.p99 <= 100,
  );
  writeReport({
    section: values.section,
    machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    command: `${external ? `PARLEY_URL=${external} ` : ""}npm run bench -- --users ${users} --duration ${duration} --rates ${rates.join(",")} --connections ${connections}${values["client-message-ids"] ? " --client-message-ids" : ""} --section ${values.section}`,
    users,
    connections,
    duration,
    rows: results.map((r) => ({
      label: r.label,
      achieved: Math.round(r.result.requests.average),
      p50: r.result.latency.p50,
      p99: r.result.latency.p99,
      p999: r.result.latency.p99_9,
      failures: r.result.non2xx + r.result.errors,
    })),
    highestHeld: holds.length ? Math.max(...holds.map((r) => r.target ?? 0)) : 0,
    cpu: results.map((r) => ({ label: r.label, perSend: r.cpu })),
  });
} finally {
  await parley.stop();
}
