/**
 * Attachment benchmark on the real S3-compatible server (versitygw from deps/; `deps/up.sh s3`):
 * upload and download of 1 MiB and 50 MiB files through Parley's presigned URLs against the same
 * server used directly with the AWS SDK, create/complete latency, and a burst of concurrent
 * small uploads.
 *   npx tsx bench/media.ts [--rounds 10] [--big-rounds 4] [--latency 200] [--burst 200]
 * Starts its own all-in-one Parley (child process) pointed at a fresh bucket, and rewrites the
 * media section of docs/benchmarks.md.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import pg from "pg";
import { readDepsEnv } from "../test/real-servers.js";
import { spawnParley } from "./parley-process.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    "big-rounds": { type: "string", default: "4" },
    latency: { type: "string", default: "200" },
    burst: { type: "string", default: "200" },
  },
});
const MiB = 1024 * 1024;
const deps = readDepsEnv();
const endpoint = deps.PARLEY_TEST_S3_ENDPOINT;
if (!endpoint) throw new Error("no S3 server in .deps/env: run `bash deps/up.sh s3` first");
const credentials = {
  accessKeyId: deps.PARLEY_TEST_S3_ACCESS_KEY ?? "",
  secretAccessKey: deps.PARLEY_TEST_S3_SECRET_KEY ?? "",
};
const region = deps.PARLEY_TEST_S3_REGION ?? "us-east-1";
const bucket = `parley-bench-${Date.now().toString(36)}`;
const s3 = new S3Client({
  endpoint,
  region,
  forcePathStyle: true,
  credentials,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
await s3.send(new CreateBucketCommand({ Bucket: bucket }));

// Attachment metadata on the real PostgreSQL when deps/ runs one (as in production), else PGlite.
const pgAdmin = deps.PARLEY_TEST_PG_URL;
const database = `parley_bench_media_${Date.now().toString(36)}`;
let mediaDatabaseUrl: string | undefined;
if (pgAdmin) {
  await superuser(pgAdmin, `CREATE DATABASE ${database}`);
  const url = new URL(pgAdmin);
  url.pathname = `/${database}`;
  mediaDatabaseUrl = url.toString();
}
async function superuser(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const parley = await spawnParley(
  {
    PARLEY_MEDIA_S3_ENDPOINT: endpoint,
    PARLEY_MEDIA_S3_REGION: region,
    PARLEY_MEDIA_S3_ACCESS_KEY_ID: credentials.accessKeyId,
    PARLEY_MEDIA_S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    PARLEY_MEDIA_S3_BUCKET: bucket,
    ...(mediaDatabaseUrl ? { PARLEY_MEDIA_DATABASE_URL: mediaDatabaseUrl } : {}),
    PARLEY_MEDIA_S3_FORCE_PATH_STYLE: "true",
    PARLEY_MEDIA_CREATE_LIMIT: "1000000",
    PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS: "100000",
    // Presence and typing are not measured here; quiet logs keep the output to the figures.
    LOG_LEVEL: "error",
  },
  { readyTimeoutMs: 300_000 },
);

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const ms = (x: number) => x.toFixed(1);
const mbps = (bytes: number, millis: number) => bytes / MiB / (millis / 1000);

async function json(path: string, body: unknown, token?: string, method = "POST") {
  const res = await fetch(`${parley.url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function user(name: string) {
  await json("/auth/register", { username: name, password: "bench-password-1" });
  return (await json("/auth/login", { username: name, password: "bench-password-1" })).token as string;
}

interface Timings {
  create: number;
  put: number;
  complete: number;
  url: number;
  get: number;
}

/** One attachment through Parley: create, PUT to the presigned URL, complete, ask for a URL, GET it. */
async function throughParley(token: string, bob: string, body: Buffer, download = true): Promise<Timings> {
  // The client hashes its file before asking (50 MiB: ~60 ms); that is not Parley's time.
  const digest = sha256(body);
  let t = performance.now();
  const created = await json(
    "/attachments",
    {
      recipient: bob,
      fileName: "bench.bin",
      contentType: "application/octet-stream",
      size: body.length,
      sha256: digest,
    },
    token,
  );
  const create = performance.now() - t;
  t = performance.now();
  const put = await fetch(created.upload.url, { method: "PUT", headers: created.upload.headers, body });
  if (put.status !== 200) throw new Error(`PUT: ${put.status} ${await put.text()}`);
  const putMs = performance.now() - t;
  t = performance.now();
  await json(`/attachments/${created.attachmentId}/complete`, {}, token);
  const complete = performance.now() - t;
  if (!download) return { create, put: putMs, complete, url: 0, get: 0 };
  t = performance.now();
  const { url } = await json(`/attachments/${created.attachmentId}`, undefined, token, "GET");
  const urlMs = performance.now() - t;
  t = performance.now();
  const got = Buffer.from(await (await fetch(url)).arrayBuffer());
  const get = performance.now() - t;
  if (got.length !== body.length) throw new Error("download size differs");
  return { create, put: putMs, complete, url: urlMs, get };
}

/** The same bytes to the same server with the SDK directly (signed request, no Parley). */
async function direct(body: Buffer): Promise<{ put: number; get: number }> {
  const key = `direct/${randomBytes(8).toString("hex")}`;
  let t = performance.now();
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/octet-stream" }),
  );
  const put = performance.now() - t;
  t = performance.now();
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const got = await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  const get = performance.now() - t;
  if (got.length !== body.length) throw new Error("direct download size differs");
  return { put, get };
}

const lines: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};
try {
  const run = Date.now().toString(36);
  const alice = await user(`mb_${run}_a`);
  const bobName = `mb_${run}_b`;
  await user(bobName);

  say(
    "| size | path | upload MiB/s (median) | download MiB/s (median) | create p50/p99 ms | complete p50/p99 ms | URL p50 ms |",
  );
  say("|---|---|---|---|---|---|---|");
  for (const [size, rounds] of [
    [1 * MiB, Number(values.rounds)],
    [50 * MiB, Number(values["big-rounds"])],
  ] as const) {
    const body = randomBytes(size);
    const viaParley: Timings[] = [];
    const viaSdk: { put: number; get: number }[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate, so both paths see the same machine load.
      viaParley.push(await throughParley(alice, bobName, body));
      viaSdk.push(await direct(body));
    }
    const label = `${size / MiB} MiB`;
    const median = (xs: number[]) => percentile(xs, 50);
    say(
      `| ${label} | Parley presigned URLs (${rounds}×) | ${mbps(size, median(viaParley.map((t) => t.put))).toFixed(0)} | ${mbps(size, median(viaParley.map((t) => t.get))).toFixed(0)} | ${ms(median(viaParley.map((t) => t.create)))} / ${ms(
        percentile(
          viaParley.map((t) => t.create),
          99,
        ),
      )} | ${ms(median(viaParley.map((t) => t.complete)))} / ${ms(
        percentile(
          viaParley.map((t) => t.complete),
          99,
        ),
      )} | ${ms(median(viaParley.map((t) => t.url)))} |`,
    );
    say(
      `| ${label} | S3 directly, AWS SDK (${rounds}×) | ${mbps(size, median(viaSdk.map((t) => t.put))).toFixed(0)} | ${mbps(size, median(viaSdk.map((t) => t.get))).toFixed(0)} | — | — | — |`,
    );
  }

  // Create/complete latency, one upload after another (4 KiB files).
  const small = randomBytes(4096);
  const sequential: Timings[] = [];
  for (let i = 0; i < Number(values.latency); i++)
    sequential.push(await throughParley(alice, bobName, small, false));
  const creates = sequential.map((t) => t.create);
  const completes = sequential.map((t) => t.complete);
  say("");
  say(
    `Create/complete latency, ${sequential.length} sequential 4 KiB uploads: create p50 ${ms(percentile(creates, 50))} ms, p99 ${ms(percentile(creates, 99))} ms; complete p50 ${ms(percentile(completes, 50))} ms, p99 ${ms(percentile(completes, 99))} ms (PUT p50 ${ms(
      percentile(
        sequential.map((t) => t.put),
        50,
      ),
    )} ms).`,
  );

  // A burst of concurrent small uploads (create + PUT + complete each).
  const burst = Number(values.burst);
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: burst }, async () => {
      const t = performance.now();
      await throughParley(alice, bobName, randomBytes(4096), false);
      return performance.now() - t;
    }),
  );
  const wall = performance.now() - started;
  const done = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.filter((r) => r.status === "rejected");
  say(
    `Burst: ${burst} concurrent 4 KiB uploads (create + PUT + complete) finished in ${(wall / 1000).toFixed(2)} s — ${done.length} ok, ${failed.length} failed; per upload p50 ${ms(percentile(done, 50))} ms, p99 ${ms(percentile(done, 99))} ms.`,
  );
  for (const f of failed.slice(0, 3)) console.error((f as PromiseRejectedResult).reason);

  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} at the end`;
  writeSection(machine, lines);
} finally {
  await parley.stop();
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  let contents = listed.Contents ?? [];
  let token = listed.NextContinuationToken;
  while (contents.length > 0) {
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: contents.map((o) => ({ Key: o.Key ?? "" })) },
      }),
    );
    if (!token) break;
    const next = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    contents = next.Contents ?? [];
    token = next.NextContinuationToken;
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
  s3.destroy();
  if (pgAdmin) await superuser(pgAdmin, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
}

function writeSection(machine: string, body: string[]): void {
  const FILE = "docs/benchmarks.md";
  const begin = "<!-- bench:media:begin -->";
  const end = "<!-- bench:media:end -->";
  const section = [
    begin,
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}.`,
    "",
    `Command: \`npx tsx bench/media.ts --rounds ${values.rounds} --big-rounds ${values["big-rounds"]} --latency ${values.latency} --burst ${values.burst}\` — all-in-one Parley (child process) with objects on versitygw and attachment metadata on ${mediaDatabaseUrl ? "PostgreSQL" : "PGlite"} from deps/; client, Parley and the servers on the same machine.`,
    "",
    ...body,
    end,
  ].join("\n");
  let doc = readFileSync(FILE, "utf8");
  const start = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  doc =
    start >= 0 && stop > start
      ? doc.slice(0, start) + section + doc.slice(stop + end.length)
      : `${doc}\n${section}\n`;
  writeFileSync(FILE, doc);
}
