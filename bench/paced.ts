import { Agent, request } from "node:http";

/**
 * Open-loop load at a fixed rate, evenly paced: request k (of rate × seconds) is due at
 * start + k / rate and is issued on the first tick (every 2 ms) at or after that, whether or not
 * earlier ones have answered — as
 * many independent clients would. autocannon's `overallRate` is not this: each connection sends its
 * quota for the second back to back and then waits, so "100/s" is a burst of 100 at the top of every
 * second (queueing that inflates the p99, batching that deflates the CPU per request).
 */
export interface PacedStep {
  /** Requests answered with success. */
  ok: number;
  failed: number;
  /** Due but not issued because `maxInFlight` were already waiting (the server is not keeping up). */
  skipped: number;
  /** Milliseconds from issuing each successful request to its answer. */
  latenciesMs: number[];
  /** How late the generator issued requests (ms, 99th percentile): the pacing's own error. */
  lateP99Ms: number;
  /** The step's length as run: `seconds`, or longer when the generator fell behind. */
  seconds: number;
}

const TICK_MS = 2;

/** `send(k)` issues request k and resolves true on success; it must not reject. */
export async function pacedLoad(options: {
  rate: number;
  seconds: number;
  maxInFlight: number;
  send: (k: number) => Promise<boolean>;
}): Promise<PacedStep> {
  const { rate, seconds, maxInFlight, send } = options;
  const latenciesMs: number[] = [];
  const lateMs: number[] = [];
  const pending: Promise<void>[] = [];
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  let issued = 0;
  // Exactly this many, whatever the ticks do: a late last tick still issues the step's quota.
  const total = Math.round(seconds * rate);
  const start = performance.now();
  let lastIssued = start;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const elapsed = (now - start) / 1000;
      // Request k is due at k ÷ rate: issue every one due by now.
      for (; issued < total && issued <= elapsed * rate; lastIssued = now) {
        const k = issued++;
        if (inFlight >= maxInFlight) {
          skipped++;
          continue;
        }
        lateMs.push(now - (start + (k * 1000) / rate));
        inFlight++;
        const t0 = performance.now();
        pending.push(
          send(k).then((success) => {
            inFlight--;
            if (!success) {
              failed++;
              return;
            }
            ok++;
            latenciesMs.push(performance.now() - t0);
          }),
        );
      }
      if (issued === total) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  // The step's length as run: `seconds` when the generator kept time, longer when it fell behind.
  const issuedFor = (lastIssued - start) / 1000 + 1 / rate;
  await Promise.all(pending);
  return { ok, failed, skipped, latenciesMs, lateP99Ms: quantiles(lateMs).p99, seconds: issuedFor };
}

/** Nearest-rank quantiles of latencies (ms); NaN for none. */
export function quantiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return {
    n: sorted.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

export interface PostResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON replies, read field by field.
  body: any;
}

/**
 * Keep-alive connections, at most this many per host; requests past it queue in the client. An
 * idle one is closed after 4 s, before the server's keep-alive timeout (Node's 5 s) closes it under
 * a request just sent on it (a send that failed with status 0 between two ladder steps).
 */
const agent = new Agent({ keepAlive: true, maxSockets: 128, timeout: 4_000 });

/** A JSON POST over keep-alive HTTP/1.1; status 0 when the connection failed. Never rejects. */
export function post(url: string, path: string, body: unknown, token?: string): Promise<PostResult> {
  return exchange("POST", url, path, JSON.stringify(body), token);
}

/** A GET over the same connections, its JSON reply parsed; status 0 when the connection failed. */
export function get(url: string, path: string, token?: string): Promise<PostResult> {
  return exchange("GET", url, path, undefined, token);
}

function exchange(
  method: "GET" | "POST",
  url: string,
  path: string,
  data: string | undefined,
  token: string | undefined,
): Promise<PostResult> {
  return new Promise((resolve) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        agent,
        headers: {
          ...(data === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(data) }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", () => resolve({ status: 0, body: undefined }));
    req.end(data);
  });
}
