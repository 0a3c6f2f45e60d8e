import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);

/** A port nothing listens on now, for the child's inspector. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("bench/attach-profile.ts", () => {
  let child: ChildProcess;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), "parley-attach-"));

  beforeAll(async () => {
    port = await freePort();
    // A process that keeps allocating in a function of a known name, as a service under load.
    child = spawn(
      process.execPath,
      [
        `--inspect-port=${port}`,
        "-e",
        "let kept = []; function churnAllocations() { kept = Array.from({ length: 2000 }, (_, i) => ({ i, s: String(i) })); } setInterval(churnAllocations, 1);",
      ],
      { stdio: "ignore" },
    );
  });

  afterAll(() => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const profile = async (...args: string[]) =>
    (
      await run(
        process.execPath,
        [
          "--import",
          "tsx",
          "bench/attach-profile.ts",
          String(child.pid),
          "--seconds",
          "1",
          "--port",
          String(port),
          ...args,
        ],
        { timeout: 30_000 },
      )
    ).stdout;

  it("names the function that allocates and writes the profile, the process running on", async () => {
    const out = join(dir, "churn.heapprofile");
    const stdout = await profile("--heap", "--out", out);
    expect(stdout).toMatch(/MiB allocated in 1 s/);
    expect(stdout).toContain("churnAllocations");
    expect(existsSync(out)).toBe(true);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  });

  it("profiles the same process again, its CPU this time, once the first session is gone", async () => {
    const out = join(dir, "churn.cpuprofile");
    const stdout = await profile("--out", out);
    expect(stdout).toContain("churnAllocations");
    expect(existsSync(out)).toBe(true);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  });
});
