import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const REAL_SERVERS = ["postgres", "redis", "kafka", "cassandra"] as const;
export type RealServer = (typeof REAL_SERVERS)[number] | "s3";

const REPO = join(import.meta.dirname, "..");

/**
 * Brings the real servers up with the project's own scripts (installing them on a bare machine;
 * a no-op when they already run) and returns their settings from .deps/env.
 */
export function ensureRealServers(names: readonly RealServer[] = REAL_SERVERS): Record<string, string> {
  execFileSync("bash", [join(REPO, "deps", "up.sh"), ...names], { stdio: ["ignore", "inherit", "inherit"] });
  return readDepsEnv();
}

export function readDepsEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(REPO, ".deps", "env"), "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1]) env[match[1]] = (match[2] ?? "").replace(/^['"]|['"]$/g, "");
  }
  return env;
}

/** A setting of the real servers, for tests; fails loudly when the global setup did not provide it. */
export function realServerSetting(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is not set: the real servers were not started by test/global-setup.ts`);
  return value;
}
