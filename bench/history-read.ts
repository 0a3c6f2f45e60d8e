/**
 * History page reads through the public API, as an app reads them: GET /chat/messages (50 messages
 * a page, newest or before a cursor) against a running Parley, after filling conversations with
 * sends. One reader at a time, so the figures are the read's own latency, not queueing; the CPU
 * each process (and, against a mesh, each real server) spent per page comes with them.
 *   PARLEY_URL=http://127.0.0.1:8080 npx tsx bench/history-read.ts --section history-read-mesh \
 *     --messages-admin http://127.0.0.1:9468 --gateway-admin http://127.0.0.1:9464
 *   npx tsx bench/history-read.ts      # starts its own all-in-one Parley
 * `--bytes` sets the messages' size (1,000 by default; chat messages are mostly far shorter), `--gap-ms`
 * a pause between pages. Against a mesh, the admin URLs add each layer's time per page and how
 * often a page met a garbage collection in it.
 * (bench/history-page.ts measures the Cassandra store alone.) Writes its section of
 * docs/benchmarks.md unless --no-write.
 */
import { cpus, totalmem } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { cpuBetween, sampleCpu } from "./cpu-accounting.js";
import { histogramBuckets, histogramTotals, metricsText } from "./histogram.js";
import { get, post, quantiles } from "./paced.js";
import { benchTarget } from "./parley-process.js";
import { writeSection } from "./report.js";

const { values } = parseArgs({
  allowNegative: true,
  options: {
    conversations: { type: "string", default: "20" },
    messages: { type: "string", default: "1000" },
    bytes: { type: "string", default: "1000" },
    reads: { type: "string", default: "2000" },
    // A pause after each page (not timed), so every process in the chain is idle when the next
    // page starts: shows what the wake-ups cost apart from the work (0: back to back).
    "gap-ms": { type: "string", default: "0" },
    section: { type: "string", default: "history-read" },
    write: { type: "boolean", default: true },
    // The messages process's admin URL (a mesh): adds its own time per page, from its
    // parley_rpc_duration_seconds of ListDirectMessages, apart from the gateway and the hops.
    "messages-admin": { type: "string" },
    // The gateway's admin URL (a mesh): adds the page as its gRPC client and its HTTP side saw it,
    // so each layer's share of the tail shows (messages answered → gateway got it → client sent).
    "gateway-admin": { type: "string" },
  },
});
const conversations = Number(values.conversations);
const perConversation = Number(values.messages);
const bytes = Number(values.bytes);
const reads = Number(values.reads);
const gapMs = Number(values["gap-ms"]);
const PAGE = 50;
const messagesAdmin = values["messages-admin"];
const gatewayAdmin = values["gateway-admin"];
const RPC = "parley_rpc_duration_seconds";
const HTTP = "parley_http_request_duration_seconds";
const LIST = 'method="ListDirectMessages",code="OK",side="server"';
const LIST_CALLED = 'method="listDirectMessages",code="OK",side="client"';
const PAGE_ROUTE = 'route="/chat/messages",method="GET",status="200"';
const GC = "nodejs_gc_duration_seconds";

const parley = await benchTarget();
const external = parley.external ? parley.url : undefined;

async function must(result: Promise<{ status: number; body: unknown }>, what: string) {
  const { status, body } = await result;
  if (status < 200 || status > 299) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
  return body as Record<string, unknown>;
}

try {
  const run = Date.now().toString(36);
  const pairs: { reader: string; author: string; token: string; cursors: string[] }[] = [];
  for (let i = 0; i < conversations; i++) {
    const [author, reader] = [`hr_${run}_a${i}`, `hr_${run}_b${i}`];
    const tokens: string[] = [];
    for (const username of [author, reader]) {
      await must(post(parley.url, "/auth/register", { username, password: "bench-password-1" }), "register");
      const login = await must(
        post(parley.url, "/auth/login", { username, password: "bench-password-1" }),
        "login",
      );
      tokens.push(String(login.token));
    }
    pairs.push({ reader, author, token: tokens[1] as string, cursors: [] });
    const authorToken = tokens[0] as string;
    const text = (k: number) => `${k} `.padEnd(bytes, "x");
    // Sixteen sends in flight per conversation; every 37th message id with a full page before it
    // becomes a cursor to read before.
    for (let k = 0; k < perConversation; k += 16) {
      const sent = await Promise.all(
        Array.from({ length: Math.min(16, perConversation - k) }, (_, j) =>
          must(
            post(parley.url, "/chat/send", { recipient: reader, message: text(k + j) }, authorToken),
            "send",
          ),
        ),
      );
      for (const [j, body] of sent.entries()) {
        if (k + j >= 2 * PAGE && (k + j) % 37 === 0) pairs[i]?.cursors.push(String(body.messageId));
      }
    }
  }
  console.log(`${conversations} conversations × ${perConversation} messages of ${bytes} bytes sent`);

  const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)] as T;
  const read = async () => {
    const pair = pick(pairs);
    const before = Math.random() < 0.5 ? "" : `&before=${pick(pair.cursors)}`;
    const started = performance.now();
    const page = await must(
      get(parley.url, `/chat/messages?recipient=${pair.author}&limit=${PAGE}${before}`, pair.token),
      "read",
    );
    const ms = performance.now() - started;
    const got = (page.messages as unknown[]).length;
    if (got !== PAGE) throw new Error(`a page of ${got} messages, not ${PAGE}`);
    return ms;
  };
  for (let i = 0; i < 200; i++) await read(); // warm-up: JIT, connections, caches
  const serverBefore = messagesAdmin ? await metricsText(messagesAdmin) : "";
  const gatewayBefore = gatewayAdmin ? await metricsText(gatewayAdmin) : "";
  const timings: number[] = [];
  const cpuBefore = sampleCpu(process.cwd(), Boolean(external));
  const started = performance.now();
  for (let i = 0; i < reads; i++) {
    timings.push(await read());
    if (gapMs > 0) await sleep(gapMs);
  }
  const seconds = (performance.now() - started) / 1000;
  // CPU per page by process role (the real servers too, against a mesh): what a page costs each.
  const cpu = cpuBetween(cpuBefore, sampleCpu(process.cwd(), Boolean(external)))
    .map(([role, cpuSeconds]) => `${role} ${((cpuSeconds * 1000) / reads).toFixed(2)}`)
    .join(", ");
  const q = quantiles(timings);
  const serverAfter = messagesAdmin ? await metricsText(messagesAdmin) : "";
  const server = messagesAdmin
    ? `${layerShare(serverBefore, serverAfter, RPC, LIST)}; ${collections(serverBefore, serverAfter, reads)}`
    : undefined;
  const gatewayAfter = gatewayAdmin ? await metricsText(gatewayAdmin) : "";
  const gateway = gatewayAdmin
    ? `its gRPC client ${layerShare(gatewayBefore, gatewayAfter, RPC, LIST_CALLED)}; its HTTP side ${layerShare(gatewayBefore, gatewayAfter, HTTP, PAGE_ROUTE)}; ${collections(gatewayBefore, gatewayAfter, reads)}`
    : undefined;
  const f = (ms: number) => ms.toFixed(1);
  const line = `${reads} pages of ${PAGE} messages (${bytes} bytes each), one reader${gapMs > 0 ? ` pausing ${gapMs} ms after each` : ""}: p50 ${f(q.p50)} ms, p99 ${f(q.p99)} ms, p99.9 ${f(q.p999)} ms, max ${f(q.max)} ms, ${(reads / seconds).toFixed(0)} pages/s`;
  console.log(line);
  console.log(`CPU per page, ms: ${cpu}`);
  if (server) console.log(`messages service per page: ${server}`);
  if (gateway) console.log(`gateway per page: ${gateway}`);
  if (values.write) {
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
    const command = `${external ? `PARLEY_URL=${external} ` : ""}npx tsx bench/history-read.ts ${process.argv.slice(2).join(" ")}`;
    writeSection(
      values.section,
      [
        `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}.`,
        `Command: \`${command.trim()}\``,
        "",
        "| pages read | p50 ms | p90 ms | **p99 ms** | p99.9 ms | max ms | pages/s |",
        "|---|---|---|---|---|---|---|",
        `| ${reads} | ${f(q.p50)} | ${f(q.p90)} | **${f(q.p99)}** | ${f(q.p999)} | ${f(q.max)} | ${(reads / seconds).toFixed(0)} |`,
        "",
        `CPU per page by process, ms: ${cpu}.`,
        ...(server ? ["", `The messages service's own time per page (its \`${RPC}\`): ${server}.`] : []),
        ...(gateway ? ["", `The gateway's time per page (\`${RPC}\` and \`${HTTP}\`): ${gateway}.`] : []),
      ].join("\n"),
    );
  }
} finally {
  await parley.stop();
}

/** One layer's time per page between two readings of a histogram: mean, and the share within 5 and 10 ms. */
function layerShare(before: string, after: string, metric: string, labels: string): string {
  const [b, a] = [histogramTotals(before, metric, labels), histogramTotals(after, metric, labels)];
  const count = a.count - b.count;
  const [bb, ab] = [histogramBuckets(before, metric, labels), histogramBuckets(after, metric, labels)];
  const within = (le: number) => `${((100 * ((ab.get(le) ?? 0) - (bb.get(le) ?? 0))) / count).toFixed(1)} %`;
  return `mean ${((1000 * (a.sum - b.sum)) / count).toFixed(2)} ms, ${within(0.005)} within 5 ms, ${within(0.01)} within 10 ms (${count} pages)`;
}

/**
 * A process's garbage collections between two readings: how often a page met a scavenge or a full
 * collection's final pause, and how long each stopped the process (its nodejs_gc_duration_seconds).
 */
function collections(before: string, after: string, pages: number): string {
  const kind = (name: string, label: string) => {
    const [b, a] = [
      histogramTotals(before, GC, `kind="${name}"`),
      histogramTotals(after, GC, `kind="${name}"`),
    ];
    const count = a.count - b.count;
    if (count <= 0) return `no ${label}`;
    return `${label} one per ${(pages / count).toFixed(0)} pages, ${((1000 * (a.sum - b.sum)) / count).toFixed(1)} ms each`;
  };
  return `${kind("minor", "scavenges")}, ${kind("major", "full collections")}`;
}
