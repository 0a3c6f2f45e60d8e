/**
 * A process of WebSocket event-stream clients for bench/delivery.ts (forked with IPC, so the
 * clients' work is not on the load generator's event loop, and a process's 20,000-descriptor
 * limit is its own). It opens streams (`GET /v1/events/ws`, token in the Authorization header,
 * spread over several loopback source addresses), waits until each is LIVE, and records when each
 * bench message (content "b:<id>") reached each stream. A stream that fails to open is retried
 * the way a real client reconnects: exponential backoff with jitter (250 ms doubling to 8 s, up to
 * RETRIES times); those that opened only after retries are counted apart (`retried`, with the
 * number of `retries`), and only those that never opened fail.
 *
 * Parent → worker: {type:"open", url, tokens, perToken, count, addresses, concurrency}
 *                  {type:"take"} (receipts so far, then forgotten) | {type:"stats"} | {type:"close"}
 * Worker → parent: {type:"opened", open, failed, retried, retries, ms, firstError}
 *                  {type:"taken", receipts} | {type:"stats", open, closed, rss}
 */
import WebSocket from "ws";

interface OpenCommand {
  type: "open";
  url: string;
  tokens: string[];
  perToken: number;
  /** How many streams in all (tokens reused round-robin, `perToken` at most each). */
  count?: number;
  addresses: string[];
  concurrency: number;
}
type Command = OpenCommand | { type: "take" } | { type: "stats" } | { type: "close" };

const sockets = new Set<WebSocket>();
let closed = 0;
/** [message tag, receive time in ms since the epoch (sub-ms), stream index] */
let receipts: [string, number, number][] = [];
const now = () => performance.timeOrigin + performance.now();
const RETRIES = 8;
const backoffMs = (attempt: number) => Math.min(8_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);

function openOne(url: string, token: string, localAddress: string, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/^http/, "ws")}/v1/events/ws`, {
      headers: { authorization: `Bearer ${token}` },
      localAddress,
      perMessageDeflate: false,
    });
    let live = false;
    socket.on("message", (data) => {
      const text = data.toString();
      // Cheap test before parsing: most frames at load are bench messages.
      const tag = /"content":"(b:[^"]+)"/.exec(text)?.[1];
      if (tag) {
        receipts.push([tag, now(), index]);
        return;
      }
      if (!live && text.includes("STREAM_CONTROL_KIND_LIVE")) {
        live = true;
        sockets.add(socket);
        resolve();
      }
    });
    socket.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.on("error", (err) => {
      if (!live) reject(err);
    });
    socket.on("close", (code, reason) => {
      if (sockets.delete(socket)) closed++;
      if (!live) reject(new Error(`closed before LIVE (${code}${reason.length ? ` ${reason}` : ""})`));
    });
  });
}

async function open(command: OpenCommand) {
  const started = Date.now();
  const jobs: [string, number][] = [];
  for (let copy = 0; copy < command.perToken; copy++) {
    for (const token of command.tokens) jobs.push([token, jobs.length]);
  }
  if (command.count !== undefined) jobs.length = Math.min(jobs.length, command.count);
  let next = 0;
  let failed = 0;
  let retried = 0;
  let retries = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < jobs.length) {
      const [token, index] = jobs[next++] as [string, number];
      const address = command.addresses[index % command.addresses.length] as string;
      for (let attempt = 0; ; attempt++) {
        const error = await openOne(command.url, token, address, index).then(
          () => undefined,
          (err: Error) => err.message,
        );
        if (error === undefined) {
          if (attempt > 0) retried++;
          break;
        }
        firstError ??= error;
        if (attempt === RETRIES) {
          failed++;
          break;
        }
        retries++;
        await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
      }
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  process.send?.({
    type: "opened",
    open: sockets.size,
    failed,
    retried,
    retries,
    ms: Date.now() - started,
    firstError,
  });
}

process.on("message", (command: Command) => {
  if (command.type === "open") void open(command);
  else if (command.type === "take") {
    process.send?.({ type: "taken", receipts });
    receipts = [];
  } else if (command.type === "stats") {
    process.send?.({ type: "stats", open: sockets.size, closed, rss: process.memoryUsage.rss() });
  } else if (command.type === "close") {
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
});
process.on("disconnect", () => process.exit(0));
