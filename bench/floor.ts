/**
 * The floor under a send's CPU cost: what bare Node servers cost per request on this machine for
 * the hops every send takes — HTTP in, one gRPC call on to another process — with none of
 * Parley's work (bench/floor-server.ts). Set beside the CPU per send of Parley's gateway and
 * messages (bench/send.ts) it says how much of their cost is the hops themselves.
 *   npx tsx bench/floor.ts [--rates 1000,2000] [--duration 10]
 * Writes docs/benchmarks.md (section "floor").
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { cpuSecondsOf } from "./cpu-accounting.js";
import { pacedLoad, post, quantiles } from "./paced.js";
import { writeSection } from "./report.js";

const { values } = parseArgs({
  options: {
    rates: { type: "string", default: "1000,2000" },
    duration: { type: "string", default: "10" },
  },
});
const rates = values.rates.split(",").map(Number);
const duration = Number(values.duration);
const HTTP_PORT = 18990;
const GRPC_PORT = 18991;

async function startServer(args: string[]): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "floor-server.ts"), ...args],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`floor server exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once("line", () => resolve());
  });
  return child;
}

function cpuOf(children: ChildProcess[]): number[] {
  const self = process.cpuUsage();
  return [...children.map((c) => cpuSecondsOf(`/proc/${c.pid}`) ?? 0), (self.user + self.system) / 1e6];
}

const rows: string[] = [];
const SETUPS = [
  { label: "HTTP alone", client: undefined, server: "grpc" },
  { label: "HTTP → gRPC (grpc-js client)", client: "grpc-js", server: "grpc" },
  { label: "HTTP → gRPC (connect-node client)", client: "connect-node", server: "grpc" },
  { label: "HTTP → gRPC (node:http2 client)", client: "http2", server: "grpc" },
  { label: "HTTP → node:http2 client and server", client: "http2", server: "h2" },
];
for (const { label, client, server } of SETUPS) {
  const withGrpc = client !== undefined;
  const grpcServer = withGrpc
    ? await startServer(["--role", server, "--port", String(GRPC_PORT)])
    : undefined;
  const httpServer = await startServer([
    "--role",
    "http",
    "--port",
    String(HTTP_PORT),
    ...(client ? ["--upstream", String(GRPC_PORT), "--client", client] : []),
  ]);
  const servers = grpcServer ? [httpServer, grpcServer] : [httpServer];
  const url = `http://127.0.0.1:${HTTP_PORT}`;
  const body = { recipient: "bob", message: "hello from the floor benchmark, about as long as a chat line" };
  const send = async () => (await post(url, "/v1/messages", body)).status === 200;
  // Warm-up: the JIT and the keep-alive connections.
  await pacedLoad({ rate: 500, seconds: 3, maxInFlight: 2048, send });
  for (const rate of rates) {
    const before = cpuOf(servers);
    const step = await pacedLoad({ rate, seconds: duration, maxInFlight: 2048, send });
    const after = cpuOf(servers);
    const perRequest = after.map((v, i) =>
      (((v - (before[i] ?? 0)) * 1000) / Math.max(1, step.ok)).toFixed(3),
    );
    const q = quantiles(step.latenciesMs);
    const [http, grpcMs, generator] = withGrpc ? perRequest : [perRequest[0], "–", perRequest[1]];
    const row = `| ${label} | ${rate}/s | ${Math.round(step.ok / step.seconds)} | ${q.p50.toFixed(1)} / ${q.p99.toFixed(1)} | ${http} | ${grpcMs} | ${generator} |`;
    console.log(row);
    rows.push(row);
  }
  await Promise.all(
    servers.map((s) => {
      const exited = new Promise((resolve) => s.once("exit", resolve));
      s.kill("SIGTERM");
      return exited;
    }),
  );
}

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
writeSection(
  "floor",
  [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine}.`,
    `Command: \`npx tsx bench/floor.ts --rates ${rates.join(",")} --duration ${duration}\``,
    "",
    "| servers | offered | achieved/s | p50 / p99 ms | HTTP server CPU ms/request | upstream server CPU ms/request | load generator CPU ms/request |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n"),
);
process.exit(0);
