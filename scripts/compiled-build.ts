import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * Compiles Parley as the image does (Dockerfile: tsc -p tsconfig.build.json in a copy of the tree,
 * then the TypeScript removed) into `<repo>/.bench/build`, so a benchmark measures the processes
 * that production runs: plain node on JavaScript, without tsx's loader and its per-file source
 * kept in memory. Returns the build's folder (cwd for `node services/main.js`).
 */
export function buildCompiled(repo: string): string {
  const out = join(repo, ".bench", "build");
  rmSync(out, { recursive: true, force: true });
  for (const entry of ["services", "proto", "web", "package.json", "tsconfig.json", "tsconfig.build.json"]) {
    cpSync(join(repo, entry), join(out, entry), { recursive: true });
  }
  symlinkSync(join(repo, "node_modules"), join(out, "node_modules"), "dir");
  execFileSync(
    process.execPath,
    [join(repo, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: out,
      stdio: "inherit",
    },
  );
  removeTypeScript(join(out, "services"));
  return out;
}

function removeTypeScript(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeTypeScript(path);
    else if (entry.name.endsWith(".ts")) unlinkSync(path);
  }
}
