import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { ensureRealServers, REAL_SERVERS } from "./real-servers.js";

/**
 * Once per test run:
 * - the real servers (PostgreSQL, Redis, Kafka, Cassandra, S3) are started by deps/up.sh, which installs
 *   them on a bare machine and does nothing when they already run; their settings (PARLEY_TEST_*)
 *   go into the environment every test worker inherits. They stay up afterwards for quick reruns;
 *   `npm run deps:down` stops them.
 * - every test Parley starts on a fresh data folder; one initialised PGlite cluster, made here, is
 *   copied for each of them instead of running initdb (~3 s) every time.
 */
export default async function setup() {
  const started = performance.now();
  Object.assign(process.env, ensureRealServers([...REAL_SERVERS, "s3"]));
  console.error(`real servers ready in ${Math.round((performance.now() - started) / 1000)} s`);

  const root = mkdtempSync(join(tmpdir(), "parley-template-"));
  const template = join(root, "pglite");
  await (await PGlite.create(template)).close();
  process.env.PARLEY_PGLITE_TEMPLATE = template;
  return () => rmSync(root, { recursive: true, force: true });
}
