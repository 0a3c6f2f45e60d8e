import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

/**
 * Every test Parley starts on a fresh data folder; one initialised PGlite cluster, made here
 * once per run, is copied for each of them instead of running initdb (~3 s) every time.
 */
export default async function setup() {
  const root = mkdtempSync(join(tmpdir(), "parley-template-"));
  const template = join(root, "pglite");
  await (await PGlite.create(template)).close();
  process.env.PARLEY_PGLITE_TEMPLATE = template;
  return () => rmSync(root, { recursive: true, force: true });
}
