import { createHash, randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../testing/eventually.js";
import type { BlobStore, PresignedRequest } from "./blob.js";

export interface BlobFixture {
  store: BlobStore;
  /** Where relative URLs are resolved (the local store's server). */
  baseUrl: string;
  cleanup(): Promise<void>;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** One suite, run against every implementation of the blob role. */
export function blobStoreContract(name: string, open: () => Promise<BlobFixture>): void {
  describe(`blob store contract: ${name}`, () => {
    let fixture: BlobFixture;
    beforeAll(async () => {
      fixture = await open();
    });
    afterAll(() => fixture?.cleanup());

    const key = () => `attachments/${randomUUID()}/original`;
    const send = (request: PresignedRequest, body?: Buffer, headers: Record<string, string> = {}) =>
      fetch(new URL(request.url, fixture.baseUrl), {
        method: request.method,
        headers: { ...request.headers, ...headers },
        body,
      });
    const presignPut = (k: string, body: Buffer, type = "application/octet-stream", ttl = 300) =>
      fixture.store.presignPut(
        k,
        { contentLength: body.length, contentType: type, sha256: sha256(body) },
        ttl,
      );

    it("accepts exactly the signed bytes through a presigned PUT and serves them through a presigned GET", async () => {
      const k = key();
      const body = randomBytes(5000);
      const put = await presignPut(k, body, "image/png");
      expect(put.expiresAt.getTime()).toBeGreaterThan(Date.now());
      expect((await send(put, body)).status).toBe(200);

      expect(await fixture.store.head(k)).toEqual({
        size: 5000,
        contentType: "image/png",
        sha256: sha256(body),
      });
      expect(await fixture.store.read(k, { start: 0, end: 16 })).toEqual(body.subarray(0, 16));

      const get = await fixture.store.presignGet(
        k,
        { contentType: "text/html", disposition: "attachment", fileName: "page é.html" },
        60,
      );
      const res = await send(get);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html");
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="page _.html"/);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(body);
    });

    it("refuses a PUT of another length, type or checksum, and stores nothing", async () => {
      const k = key();
      const body = randomBytes(1000);
      const put = await presignPut(k, body, "image/jpeg");
      expect((await send(put, Buffer.concat([body, Buffer.from("x")]))).status).toBe(403);
      expect((await send(put, body.subarray(1))).status).toBe(403);
      expect((await send(put, body, { "content-type": "text/html" })).status).toBe(403);
      const otherSum = Buffer.from(sha256(Buffer.from("other")), "hex").toString("base64");
      expect((await send(put, body, { "x-amz-checksum-sha256": otherSum })).status).toBe(403);
      const tampered = Buffer.from(body);
      tampered[10] = (tampered[10] ?? 0) ^ 0xff;
      expect((await send(put, tampered)).status).toBe(400);
      expect(await fixture.store.head(k)).toBeUndefined();
    });

    it("refuses a tampered URL with 403", async () => {
      const k = key();
      const body = randomBytes(100);
      const put = await presignPut(k, body);
      const flip = (url: string) => url.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
      const badPut = {
        ...put,
        url: put.url.includes("X-Amz-Signature") ? flipSignature(put.url) : flip(put.url),
      };
      expect((await send(badPut, body)).status).toBe(403);
      expect(await fixture.store.head(k)).toBeUndefined();
      expect((await send(put, body)).status).toBe(200);
      const get = await fixture.store.presignGet(
        k,
        { contentType: "image/png", disposition: "inline", fileName: "a.png" },
        60,
      );
      const badGet = {
        ...get,
        url: get.url.includes("X-Amz-Signature") ? flipSignature(get.url) : flip(get.url),
      };
      expect((await send(badGet)).status).toBe(403);
      // Another key under the same signature is a tampered URL too (S3 names the key in the path).
      if (get.url.includes(k))
        expect((await send({ ...get, url: get.url.replace(k, key()) })).status).toBe(403);
    });

    it("refuses an expired URL with 403", async () => {
      const k = key();
      await fixture.store.write(k, Buffer.from("short-lived"), "text/plain");
      const get = await fixture.store.presignGet(
        k,
        { contentType: "text/plain", disposition: "attachment", fileName: "a.txt" },
        1,
      );
      await eventually(async () => (await send(get)).status === 403, 10_000);
      const fresh = await fixture.store.presignGet(
        k,
        { contentType: "text/plain", disposition: "attachment", fileName: "a.txt" },
        60,
      );
      expect((await send(fresh)).status).toBe(200);
    });

    it("writes, reads, streams and deletes objects; absent objects have no head", async () => {
      const k = key();
      const body = Buffer.from("made by parley");
      await fixture.store.write(k, body, "image/webp");
      expect(await fixture.store.head(k)).toMatchObject({ size: body.length, contentType: "image/webp" });
      expect(await fixture.store.read(k)).toEqual(body);
      // A range past the end gives what there is (sniffing asks for the first 4,100 bytes of anything).
      expect(await fixture.store.read(k, { start: 0, end: 4100 })).toEqual(body);
      expect(await fixture.store.read(k, { start: 5, end: 9 })).toEqual(body.subarray(5, 9));
      const chunks: Buffer[] = [];
      for await (const chunk of await fixture.store.stream(k)) chunks.push(Buffer.from(chunk));
      expect(Buffer.concat(chunks)).toEqual(body);
      await fixture.store.delete(k);
      await fixture.store.delete(k);
      expect(await fixture.store.head(k)).toBeUndefined();
      const get = await fixture.store.presignGet(
        k,
        { contentType: "image/webp", disposition: "inline", fileName: "x" },
        60,
      );
      expect((await send(get)).status).toBe(404);
    });
  });
}

function flipSignature(url: string): string {
  return url.replace(
    /X-Amz-Signature=([0-9a-f])/,
    (_m, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`,
  );
}
