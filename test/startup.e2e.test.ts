import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm start` as a newcomer runs it: a real process on a fresh data folder, probed from outside.
 */
const dataDir = mkdtempSync(join(tmpdir(), "parley-start-"));
let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

async function poll(url: string, until: (status: number) => boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (until(status) || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the launcher", () => {
  it("is alive before it is ready, becomes ready, and stops cleanly on SIGTERM", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    child = spawn(process.execPath, ["--import", "tsx", "services/main.ts"], {
      env: {
        ...process.env,
        PORT: String(port),
        PARLEY_ADMIN_PORT: String(port + 1),
        PARLEY_DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const base = `http://127.0.0.1:${port}`;
    expect(await poll(`${base}/healthz`, (s) => s === 200, 60_000)).toBe(200);
    // Services open their databases after the gateway listens: alive first, ready later.
    const firstReady = await fetch(`${base}/readyz`);
    const readyAt = await poll(`${base}/readyz`, (s) => s === 200, 60_000);
    expect(readyAt).toBe(200);
    expect([200, 503]).toContain(firstReady.status);
    // Ready means every target of the process has started, not only the services the gateway
    // asks: event streams need presence and delivery, which start after them.
    const admin = (await (await fetch(`http://127.0.0.1:${port + 1}/readyz`)).json()) as {
      targets: Record<string, string>;
    };
    expect(Object.values(admin.targets).every((state) => state === "started")).toBe(true);

    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
    const stopping = Date.now();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
  });

  it("refuses bad configuration at start-up, naming every bad variable", async () => {
    const bad = spawn(process.execPath, ["--import", "tsx", "services/main.ts"], {
      env: { ...process.env, PORT: "not-a-port", PARLEY_ADMIN_PORT: "-3", PARLEY_DATA_DIR: dataDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    bad.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => bad.once("exit", resolve));
    expect(code).toBe(2);
    expect(output).toMatch(/^\s*PORT:/m);
    expect(output).toMatch(/^\s*PARLEY_ADMIN_PORT:/m);
  });
});
