/**
 * Making a PGlite data folder from a template, shared by PGlite on the event loop
 * (database.pglite.ts) and in the worker thread (pglite.worker.ts). Dependency-free apart from
 * Node and PGlite: the worker loads it as it is, with no TypeScript loader.
 */
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

const TEMPLATE = ".pglite-template";

/**
 * Makes sure `dir` holds a PGlite cluster. A fresh cluster costs ~3 s of initdb, so the first one
 * made under a data folder (or `templateDir`) is kept as a template and copied for the others
 * (~0.3 s each).
 */
export async function ensureCluster(dir: string, templateDir: string | undefined): Promise<void> {
  if (existsSync(dir)) return;
  const template = templateDir ?? join(dirname(dir), TEMPLATE);
  if (!existsSync(template)) {
    mkdirSync(dirname(template), { recursive: true });
    const building = `${template}.building`;
    rmSync(building, { recursive: true, force: true });
    await (await PGlite.create(building)).close();
    renameSync(building, template);
  }
  mkdirSync(dirname(dir), { recursive: true });
  cpSync(template, dir, { recursive: true });
}
