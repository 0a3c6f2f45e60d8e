import { spawn } from "node:child_process";
import { join } from "node:path";

const REPO = join(import.meta.dirname, "../../..");

/**
 * Runs an ES-module script (TypeScript imports allowed, paths relative to the repository) in a
 * fresh Node process, `nodeFlags` first; resolves when it exits, with what it printed.
 */
export async function runModuleScript(
  script: string,
  nodeFlags: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, "--import", "tsx", "--input-type=module", "-e", script],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}
