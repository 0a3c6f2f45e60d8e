/**
 * REST send benchmark: many users and conversations, POST /chat/send at fixed rates (open loop,
 * evenly paced: bench/paced.ts) and flat out (autocannon, closed loop on `--connections`).
 *   npm run bench                      # starts its own all-in-one Parley in a child process
 *   PARLEY_URL=http://host:8080 npm run bench   # against a running one
 * Writes docs/benchmarks.md (the send section) and prints the figures; --no-write prints the
 * section instead.
 */
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { type CpuSample, cpuBetween, sampleCpu } from "./cpu-accounting.js";
import { bucketQuantile, histogramBuckets, metricsText } from "./histogram.js";
import { pacedLoad, post, quantiles } from "./paced.js";
import { benchTarget } from "./parley-process.js";
import { writeReport } from "./report.js";

const { values } = parseArgs({
  allowNegative: true,
  options: {
    users: { type: "string", default: "200" },
    duration: { type: "string", default: "15" },
    rates: { type: "string", default: "1000,1500,2000,2500,3000" },
    connections: { type: "string", default: "64" },
    // The docs/benchmarks.md section to (re)write: "send" for all-in-one, "send-mesh" for a mesh.
    section: { type: "string", default: "send" },
    write: { type: "boolean", default: true },
    // Send each message with a clientMessageId, as the web app does (the idempotent path: SQL per send).
    "client-message-ids": { type: "boolean", default: false },
    // The messages process's admin URL (a mesh): adds the persister's delay per step, from its
    // parley_log_consumer_delay_seconds (durable append → written to history).
    "messages-admin": { type: "string" },
  },
});
const users = Number(values.users);
const duration = Number(values.duration);
const rates = values.rates.split(",").map(Number);
const connections = Number(values.connections);
const messagesAdmin = values["messages-admin"];
const PERSISTER_DELAY = "parley_log_consumer_delay_seconds";
const PERSISTER = 'group="parley.persister"';

const parley = await benchTarget();
const external = parley.external ? parley.url : undefined;

/** A setup request that must succeed (registration, login). */
async function must(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await post(parley.url, path, body);
  if (res.status < 200 || res.status > 299)
    throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Record<string, unknown>;
}

try {
  const run = Date.now().toString(36);
  const names = Array.from({ length: users }, (_, i) => `bench_${run}_${i}`);
  // Registration and login hash with argon2id (~36 ms each): do them a few at a time.
  const tokens: string[] = [];
  for (let i = 0; i < names.length; i += 16) {
    const chunk = names.slice(i, i + 16);
    await Promise.all(
      chunk.map((username) => must("/auth/register", { username, password: "bench-password-1" })),
    );
    const logins = await Promise.all(
      chunk.map((username) => must("/auth/login", { username, password: "bench-password-1" })),
    );
    tokens.push(...logins.map((l) => String(l.token)));
  }

  /** Message k: sender k mod users writes to one of its next 7 users (users × 7 conversations). */
  const message = (k: number) => {
    const from = k % users;
    const to = (from + 1 + (k % 7)) % users;
    const text = `message ${k} from ${from} to ${to}`;
    return {
      token: tokens[from] as string,
      body: values["client-message-ids"]
        ? { recipient: names[to], message: text, clientMessageId: `${run}-${k}` }
        : { recipient: names[to], message: text },
    };
  };
  let sent = 0;

  const results: { label: string; target: number | undefined; row: SendRow; cpu: [string, number][] }[] = [];
  const measure = async (label: string, target: number | undefined, load: () => Promise<SendRow>) => {
    const before: CpuSample = sampleCpu(process.cwd(), Boolean(external));
    const persisted = messagesAdmin ? await persisterDelay() : undefined;
    const row = await load();
    if (persisted) row.persister = await persisted.after(row.ok);
    const cpu = cpuBetween(before, sampleCpu(process.cwd(), Boolean(external))).map(
      ([role, seconds]): [string, number] => [role, (seconds * 1000) / Math.max(1, row.ok)],
    );
    results.push({ label, target, row, cpu });
    console.log(
      `${label}: ${row.achieved} sends/s, p50 ${row.p50} ms, p99 ${row.p99} ms, p99.9 ${row.p999} ms, failed ${row.failures}${row.note}${row.persister ? `, persister delay p50 / p99 ${row.persister} ms` : ""}`,
    );
  };
  const atRate = (rate: number) => async (): Promise<SendRow> => {
    const step = await pacedLoad({
      rate,
      seconds: duration,
      maxInFlight: 2048,
      send: async () => {
        const { token, body } = message(sent++);
        return (await post(parley.url, "/chat/send", body, token)).status === 200;
      },
    });
    const q = quantiles(step.latenciesMs);
    return {
      ok: step.ok,
      achieved: Math.round(step.ok / step.seconds),
      p50: Math.round(q.p50),
      p99: Math.round(q.p99),
      p999: Math.round(q.p999),
      failures: step.failed + step.skipped,
      note: `, generator late p99 ${step.lateP99Ms.toFixed(1)} ms`,
    };
  };
  const flatOut = async (): Promise<SendRow> => {
    const result = await autocannon({
      url: parley.url,
      connections,
      duration,
      requests: [
        {
          method: "POST",
          path: "/chat/send",
          setupRequest(req) {
            const { token, body } = message(sent++);
            req.headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
            req.body = JSON.stringify(body);
            return req;
          },
        },
      ],
    });
    const l = result.latency;
    return {
      ok: result["2xx"],
      achieved: Math.round(result.requests.average),
      p50: l.p50,
      p99: l.p99,
      p999: l.p99_9,
      failures: result.non2xx + result.errors,
      note: ` (${connections} connections)`,
    };
  };

  // Warm up JIT, caches and data keys before measuring.
  await measure("warm-up", 500, atRate(500));
  results.length = 0;
  for (const rate of rates) await measure(`${rate}/s`, rate, atRate(rate));
  await measure("flat out", undefined, flatOut);

  const holds = results.filter(
    (r) =>
      r.target !== undefined && r.row.achieved >= r.target * 0.97 && r.row.failures === 0 && r.row.p99 <= 100,
  );
  writeReport(
    {
      section: values.section,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      command: `${external ? `PARLEY_URL=${external} ` : ""}npm run bench -- --users ${users} --duration ${duration} --rates ${rates.join(",")} --connections ${connections}${values["client-message-ids"] ? " --client-message-ids" : ""}${messagesAdmin ? ` --messages-admin ${messagesAdmin}` : ""} --section ${values.section}`,
      users,
      connections,
      duration,
      rows: results.map((r) => ({ label: r.label, ...r.row })),
      highestHeld: holds.length ? Math.max(...holds.map((r) => r.target ?? 0)) : 0,
      cpu: results.map((r) => ({ label: r.label, perSend: r.cpu })),
    },
    values.write,
  );
} finally {
  await parley.stop();
}

interface SendRow {
  ok: number;
  achieved: number;
  p50: number;
  p99: number;
  p999: number;
  failures: number;
  /** Printed after the figures (not in the report). */
  note: string;
  /** The persister's delay over the step, p50 / p99 ms (bucket upper bounds), with --messages-admin. */
  persister?: string;
}

/**
 * The persister's delay histogram now; `after(sends)` waits until it has observed that many more
 * records (each is observed when its batch is written, so the step's last ones come after it) — at
 * most 30 s — and gives the delay's p50 / p99 over them.
 */
async function persisterDelay() {
  const read = async () =>
    histogramBuckets(await metricsText(messagesAdmin as string), PERSISTER_DELAY, PERSISTER);
  const count = (buckets: Map<number, number>) => buckets.get(Number.POSITIVE_INFINITY) ?? 0;
  const before = await read();
  return {
    async after(sends: number): Promise<string> {
      let after = await read();
      for (
        const deadline = Date.now() + 30_000;
        count(after) - count(before) < sends && Date.now() < deadline;
      ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        after = await read();
      }
      const ms = (q: number) => String(bucketQuantile(before, after, q));
      return `${ms(0.5)} / ${ms(0.99)}`;
    },
  };
}
