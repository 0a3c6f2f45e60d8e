/**
 * Opening a PGlite cluster: its data folder made from a template, PostgreSQL started with Parley's
 * settings. Shared by PGlite on the event loop (database.pglite.ts) and in the worker thread
 * (pglite.worker.ts). Dependency-free apart from Node and PGlite: the worker loads it as it is,
 * with no TypeScript loader.
 */
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";

/**
 * PostgreSQL's shared buffers per cluster, MiB. Its default of 128 MiB is touched at start-up:
 * with one cluster per store the all-in-one sat at ~1.4 GiB before its first request. The
 * kernel's page cache holds the files anyway. PARLEY_PGLITE_SHARED_BUFFERS_MB's default
 * (infra.ts, which must not load PGlite to read it) is this same figure.
 */
export const DEFAULT_SHARED_BUFFERS_MB = 16;

export interface ClusterOptions extends Pick<PGliteOptions, "parsers" | "serializers"> {
  sharedBuffersMb?: number;
}

/** Opens (creating from the template if needed) an embedded PostgreSQL in `dir`. */
export async function openCluster(
  dir: string,
  templateDir: string | undefined,
  { sharedBuffersMb = DEFAULT_SHARED_BUFFERS_MB, ...codecs }: ClusterOptions = {},
): Promise<PGlite> {
  await ensureCluster(dir, templateDir);
  return PGlite.create(dir, {
    ...codecs,
    startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${sharedBuffersMb}MB`],
  });
}

const TEMPLATE = ".pglite-template";

/**
 * Makes sure `dir` holds a PGlite cluster. A fresh cluster costs ~3 s of initdb, so the first one
 * made under a data folder (or `templateDir`) is kept as a template and copied for the others
 * (~0.3 s each).
 */
async function ensureCluster(dir: string, templateDir: string | undefined): Promise<void> {
  if (existsSync(dir)) return;
  const template = templateDir ?? join(dirname(dir), TEMPLATE);
  if (!existsSync(template)) {
    let made = templatesBeingMade.get(template);
    if (!made) {
      made = makeTemplate(template).finally(() => templatesBeingMade.delete(template));
      templatesBeingMade.set(template, made);
    }
    await made;
  }
  mkdirSync(dirname(dir), { recursive: true });
  cpSync(template, dir, { recursive: true });
}

/** Templates this thread is making: databases opened at once under a new folder wait for one. */
const templatesBeingMade = new Map<string, Promise<void>>();

async function makeTemplate(template: string): Promise<void> {
  mkdirSync(dirname(template), { recursive: true });
  const building = `${template}.building`;
  rmSync(building, { recursive: true, force: true });
  await (await PGlite.create(building)).close();
  renameSync(building, template);
}
