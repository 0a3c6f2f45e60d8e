/**
 * Profiles a running process (a mesh target, an all-in-one Parley) without restarting it: opens its
 * inspector with SIGUSR1, records for a while either a CPU profile (summarised as
 * bench/cpuprofile.ts does) or V8's sampling heap profile (every allocation, collected or not:
 * where the garbage comes from) and writes the profile for DevTools. The inspector stays open on
 * loopback afterwards (see detach()).
 *   npx tsx bench/attach-profile.ts PID [--seconds 15] [--heap] [--port 9229] [--out FILE]
 * The port is the one the process's inspector opens on (9229 unless it ran with --inspect-port),
 * so profile one process at a time.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { summarise, summaryMarkdown } from "./cpuprofile.js";

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** A Chrome DevTools Protocol session with the inspector of `pid`, opened by SIGUSR1. */
async function attach(pid: number, port: number) {
  process.kill(pid, "SIGUSR1");
  const target = await inspectorTarget(port);
  const socket = new WebSocket(target);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let lastId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter || message.id === undefined) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    send<T>(method: string, params: object = {}): Promise<T> {
      const id = ++lastId;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise<T>((resolve, reject) =>
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject }),
      );
    },
    /**
     * Ends this session; the process runs on, its inspector still listening on loopback until it
     * exits. Closing the inspector from a session (Runtime.evaluate of inspector.close()) killed a
     * mesh process with SIGSEGV in two of five tries on Node 24.21, so it is left open.
     */
    async detach(): Promise<void> {
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.close();
      await closed;
    },
  };
}

/** The WebSocket URL of the inspector on `port`, once it listens (SIGUSR1 opens it asynchronously). */
async function inspectorTarget(port: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl: string;
      }[];
      if (targets[0]) return targets[0].webSocketDebuggerUrl;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no inspector on port ${port}`, { cause: err });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Bytes allocated in all, and the sites that allocated most (their own, not their callees'). */
function allocationSites(
  head: HeapNode,
  top = 25,
): { total: number; sites: { site: string; bytes: number; share: number }[] } {
  const sites = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url
      ? ` ${url.replace(/^.*\/(node_modules|services|bench)\//, "$1/")}:${lineNumber + 1}`
      : "";
    const site = `${functionName || "(anonymous)"}${where}`;
    sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(head);
  return {
    total,
    sites: [...sites]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([site, bytes]) => ({ site, bytes, share: bytes / (total || 1) })),
  };
}

if (process.argv[1]?.endsWith("attach-profile.ts")) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: "string", default: "15" },
      heap: { type: "boolean", default: false },
      port: { type: "string", default: "9229" },
      out: { type: "string" },
    },
  });
  const pid = Number(positionals[0]);
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error("usage: attach-profile.ts PID [--seconds N] [--heap]");
  const seconds = Number(values.seconds);
  const session = await attach(pid, Number(values.port));
  mkdirSync(".bench", { recursive: true });
  const out =
    values.out ?? `.bench/attached-${pid}-${Date.now()}.${values.heap ? "heapprofile" : "cpuprofile"}`;
  // Printed once the session has ended, so a reader that stops early (`| head`) cannot cut it short.
  const report: string[] = [];
  try {
    if (values.heap) {
      await session.send("HeapProfiler.enable");
      await session.send("HeapProfiler.startSampling", {
        samplingInterval: 8192,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const { profile } = await session.send<{ profile: { head: HeapNode } }>("HeapProfiler.stopSampling");
      await session.send("HeapProfiler.disable");
      writeFileSync(out, JSON.stringify(profile));
      const { total, sites } = allocationSites(profile.head);
      report.push(`${(total / 2 ** 20).toFixed(0)} MiB allocated in ${seconds} s (sampled); by site:`);
      for (const s of sites) {
        report.push(
          `${(s.share * 100).toFixed(1).padStart(5)} %  ${(s.bytes / 2 ** 20).toFixed(1).padStart(7)} MiB  ${s.site}`,
        );
      }
    } else {
      await session.send("Profiler.enable");
      await session.send("Profiler.setSamplingInterval", { interval: 200 });
      await session.send("Profiler.start");
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const { profile } = await session.send<{ profile: unknown }>("Profiler.stop");
      await session.send("Profiler.disable");
      writeFileSync(out, JSON.stringify(profile));
      report.push(summaryMarkdown(`process ${pid}`, summarise(out, 25), 25));
    }
    report.push(`\nprofile written to ${out}`);
  } finally {
    await session.detach();
  }
  console.log(report.join("\n"));
}
