import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestS3, type TestS3 } from "../services/kit/blob/blob.s3.fixture.js";
import { newUser, restClient } from "./clients.js";
import { startTestParley, type TestParley } from "./harness.js";
import { mediaScenarios } from "./media.scenarios.js";

/** Every file under `dir`, as a key relative to it. */
function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)));
  } catch {
    return [];
  }
  return entries.sort();
}

describe("all-in-one on embedded defaults (local folder, URLs served by the gateway)", () => {
  let parley: TestParley;
  beforeAll(async () => {
    parley = await startTestParley();
  });
  afterAll(() => parley?.cleanup());

  mediaScenarios(() => ({
    url: parley.url,
    objects: async () => filesUnder(join(parley.dataDir, "media", "objects", "objects")),
  }));

  it("reports uploads on /metrics", async () => {
    const api = restClient(parley.url);
    const [alice, bob] = [await newUser(api), await newUser(api)];
    const created = await api.post(
      "/attachments",
      {
        recipient: bob.username,
        fileName: "a.txt",
        contentType: "text/plain",
        size: 2,
        sha256: "0".repeat(64),
      },
      alice.token,
    );
    expect(created.status).toBe(201);
    const metrics = await (await fetch(`http://127.0.0.1:${parley.parley.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/parley_media_uploads_started_total [1-9]/);
    expect(metrics).toMatch(/parley_media_uploads_completed_total\{kind="image"\} [1-9]/);
    expect(metrics).toMatch(/parley_media_uploads_failed_total\{reason="type"\} [1-9]/);
    expect(metrics).toMatch(/parley_media_completion_duration_seconds_count\{kind="file"\} [1-9]/);
  });
});

describe("all-in-one on S3 (the real versitygw server)", () => {
  let parley: TestParley;
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await openTestS3();
    parley = await startTestParley({ env: s3.env });
  });
  afterAll(async () => {
    await parley?.cleanup();
    await s3?.cleanup();
  });

  mediaScenarios(() => ({ url: parley.url, objects: () => s3.keys() }));

  it("hands out URLs of the S3 server itself, so the bytes never pass through Parley", async () => {
    const api = restClient(parley.url);
    const [alice, bob] = [await newUser(api), await newUser(api)];
    const created = await api.post(
      "/attachments",
      {
        recipient: bob.username,
        fileName: "a.txt",
        contentType: "text/plain",
        size: 2,
        sha256: "0".repeat(64),
      },
      alice.token,
    );
    expect(created.body.upload.url.startsWith(`${s3.endpoint}/${s3.bucket}/`)).toBe(true);
    expect(created.body.upload.headers["x-amz-server-side-encryption"]).toBe("AES256");
  });
});
