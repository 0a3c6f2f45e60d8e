/**
 * `npm run start:mesh [-- --compiled]`: Parley as one process per service on the real servers that
 * `npm run deps:up` started (their settings are in .deps/env). See docs/mesh.md.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_GRPC_PORTS } from "../services/kit/addresses.js";
import { buildCompiled } from "./compiled-build.js";
import { fixedPorts, realServersFromEnv } from "./mesh/plan.js";
import { startMesh } from "./mesh/start.js";

const REPO = join(import.meta.dirname, "..");
const DEPS_ENV = join(REPO, ".deps", "env");

// --compiled: the processes the image runs (tsc's JavaScript on plain node), built into
// .bench/build first, rather than the source under tsx — what benchmarks of the mesh should measure.
const { values: flags } = parseArgs({ options: { compiled: { type: "boolean", default: false } } });

function fail(message: string): never {
  console.error(`mesh: ${message}`);
  process.exit(1);
}

function readDepsEnv(): Record<string, string> {
  if (!existsSync(DEPS_ENV)) fail(`${DEPS_ENV} is missing: run \`npm run deps:up\` first`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(DEPS_ENV, "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1]) env[match[1]] = (match[2] ?? "").replace(/^['"]|['"]$/g, "");
  }
  return env;
}

const servers = realServersFromEnv(readDepsEnv());
const missing = Object.entries({
  postgres: servers.postgresUrl,
  kafka: servers.kafkaBrokers,
  redis: servers.redisUrl,
  cassandra: servers.cqlContactPoints,
})
  .filter(([, value]) => !value)
  .map(([name]) => name);
if (missing.length > 0) {
  fail(`${DEPS_ENV} names no ${missing.join(", ")}: run \`npm run deps:up\` (the servers are not running)`);
}

const publicPort = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(publicPort) || publicPort <= 0 || publicPort > 65535)
  fail(`PORT=${process.env.PORT} is not a port`);

const width = Math.max(..."messages gateway".split(" ").map((n) => n.length));
const stateDir = join(REPO, ".deps", "mesh");
const runDir = flags.compiled ? buildCompiled(REPO) : REPO;
console.error(`mesh: starting every target${flags.compiled ? ", compiled," : ""} (state in ${stateDir})`);

let mesh: Awaited<ReturnType<typeof startMesh>> | undefined;
let stopping = false;
const stop = async (reason: string, code: number) => {
  if (stopping) return;
  stopping = true;
  console.error(`mesh: ${reason}, stopping every process`);
  await mesh?.stop();
  process.exit(code);
};
// Ctrl-C also reaches the children (same process group); they stop on it themselves, and so do we.
process.on("SIGINT", () => void stop("SIGINT", 0));
process.on("SIGTERM", () => void stop("SIGTERM", 0));

try {
  mesh = await startMesh({
    repoDir: runDir,
    compiled: flags.compiled,
    servers,
    ports: fixedPorts(publicPort, DEFAULT_GRPC_PORTS),
    names: { databasePrefix: "parley_", cqlKeyspace: "parley_messages" },
    stateDir,
    dataDir: join(stateDir, "data"),
    output: (name, line) => console.log(`${name.padEnd(width)} | ${line}`),
  });
} catch (err) {
  console.error(`mesh: ${(err as Error).message}`);
  process.exit(1);
}
const ports = mesh.plan.ports;
console.error(
  [
    `mesh: ready — API and web app on ${mesh.url}`,
    ...Object.entries(mesh.processes).map(
      ([name, p]) =>
        `  ${name.padEnd(width)} pid ${p.pid}  admin ${p.adminUrl} (/metrics /readyz)` +
        (name in ports.grpc ? `  gRPC 127.0.0.1:${ports.grpc[name as keyof typeof ports.grpc]}` : ""),
    ),
  ].join("\n"),
);
void mesh.failed.then((reason) => stop(`${reason}`, 1));
