import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import type { TargetName } from "../../services/kit/module.js";
import { NODE_RUNTIME_FLAGS } from "../../services/kit/runtime-flags.js";

/**
 * One process of the mesh: `node --import tsx services/main.ts --target=<name>` from source, or
 * `node services/main.js --target=<name>` from a compiled build (what the image runs).
 */
export interface MeshProcess {
  readonly name: TargetName;
  /** The pid of the running process (the server itself: no wrapper between us and it). */
  readonly pid: number | undefined;
  /** Its admin port: /metrics, /healthz, /readyz. */
  readonly adminUrl: string;
  /** Sends `signal` and resolves once it exited. The mesh expects this exit and keeps running. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again with the same settings (after kill) and resolves once it is ready. */
  restart(): Promise<void>;
  /** Its last lines of output, for failure messages. */
  recentOutput(): string[];
}

export interface ProcessOptions {
  name: TargetName;
  /** The source tree, or a compiled build (`compiled`: services/main.js, as the image has it). */
  repoDir: string;
  compiled?: boolean;
  env: NodeJS.ProcessEnv;
  adminUrl: string;
  readyTimeoutMs: number;
  /** Every line the process writes. */
  onLine(name: TargetName, line: string): void;
  /** An exit nobody asked for (a crash, or a start-up failure). */
  onUnexpectedExit(name: TargetName, description: string): void;
  /** Runs after a restart made this process ready (e.g. waits until the gateway sees it again). */
  afterRestart?(): Promise<void>;
}

const KEPT_LINES = 40;

export class SupervisedProcess implements MeshProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<string> = Promise.resolve("not started");
  private expectingExit = false;
  private readonly lines: string[] = [];

  constructor(private readonly options: ProcessOptions) {}

  get name(): TargetName {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get adminUrl(): string {
    return this.options.adminUrl;
  }

  recentOutput(): string[] {
    return [...this.lines];
  }

  /** Spawns the process; does not wait for it to be ready (see waitReady). */
  start(): void {
    if (this.pid !== undefined) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    this.expectingExit = false;
    const entry = this.options.compiled ? ["services/main.js"] : ["--import", "tsx", "services/main.ts"];
    const child = spawn(process.execPath, [...NODE_RUNTIME_FLAGS, ...entry, `--target=${this.name}`], {
      cwd: this.options.repoDir,
      env: this.options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
        this.lines.push(line);
        if (this.lines.length > KEPT_LINES) this.lines.shift();
        this.options.onLine(this.name, line);
      });
    }
    this.exited = new Promise((resolve) => {
      child.once("error", (err) => resolve(`could not be started: ${err.message}`));
      child.once("exit", (code, signal) => {
        const description = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (!this.expectingExit) this.options.onUnexpectedExit(this.name, description);
        resolve(description);
      });
    });
  }

  /**
   * Polls its admin /readyz (bounded) until 200. Fails early when the process exits, with its last
   * output (start-up failures print one line naming the dependency), or at the deadline with what
   * /readyz said last (which check fails).
   */
  async waitReady(): Promise<void> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    let exit: string | undefined;
    void this.exited.then((description) => {
      exit = description;
    });
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (exit !== undefined) {
        throw new Error(`${this.name} ${exit} before it was ready:\n  ${this.lines.slice(-5).join("\n  ")}`);
      }
      try {
        const res = await fetch(`${this.adminUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
        if (res.status === 200) return;
        last = `${res.status} ${await res.text()}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await delay(200);
    }
    throw new Error(
      `${this.name} not ready within ${this.options.readyTimeoutMs} ms; /readyz: ${last}; last output:\n  ${this.lines.slice(-10).join("\n  ")}`,
    );
  }

  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    this.expectingExit = true;
    child.kill(signal);
    await this.exited;
  }

  /** Stops it politely, then forcibly after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.pid === undefined) return;
    this.expectingExit = true;
    this.child?.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.kill("SIGTERM");
    this.start();
    await this.waitReady();
    await this.options.afterRestart?.();
  }
}
