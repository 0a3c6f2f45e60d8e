import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newUser, restClient } from "./clients.js";
import { kindOf, wsEvents } from "./event-clients.js";

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
  it("is alive before it is ready, becomes ready, and stops cleanly on SIGTERM, streams first", async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    child = spawn(process.execPath, ["--import", "tsx", "services/main.ts"], {
      env: {
        ...process.env,
        PORT: String(port),
        PARLEY_ADMIN_PORT: String(port + 1),
        PARLEY_DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    // The log, one JSON object a line (pino).
    let log = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
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

    // A device holding a stream when the stop comes.
    const user = await newUser(restClient(base));
    const stream = wsEvents(base, { token: user.token });
    await stream.until((e) => kindOf(e) === "control:LIVE");

    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
    const stopping = Date.now();
    const logBeforeStop = log.length;
    child.kill("SIGTERM");
    const [last] = (await stream.until((e) => kindOf(e) === "control:RECONNECT")).slice(-1);
    expect(last.control.reason).toBe("server is shutting down");
    expect(await exited).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    // The gateway stops before the services it calls: closing its streams in presence and
    // announcing them found everything still running, so nothing was logged as failed.
    const troubles = log
      .slice(logBeforeStop)
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: string; msg: string })
      .filter((entry) => ["warn", "error", "fatal"].includes(entry.level));
    expect(troubles.map((entry) => entry.msg)).toEqual([]);
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
