import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { GroupService } from "../services/gen/es/parley/v1/groups_pb.js";
import { MediaService } from "../services/gen/es/parley/v1/media_pb.js";
import { MessageService } from "../services/gen/es/parley/v1/messages_pb.js";
import { type Json, newUser, type RestClient, restClient, type TestUser } from "./clients.js";

export interface MediaTarget {
  /** The gateway's URL. */
  url: string;
  /** The keys of every object the attachment store holds now. */
  objects(): Promise<string[]>;
}

export const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A JPEG carrying EXIF with a copyright marker and GPS coordinates (made here, with sharp). */
export async function jpegWithGps(): Promise<Buffer> {
  return sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .jpeg()
    .withExif({
      IFD0: { Copyright: "parley-exif-marker" },
      IFD3: {
        GPSLatitudeRef: "N",
        GPSLatitude: "51/1 30/1 0/1",
        GPSLongitudeRef: "W",
        GPSLongitude: "0/1 7/1 0/1",
      },
    })
    .toBuffer();
}

/** The EXIF tag that points at the GPS block (0x8825), as it appears in little-endian EXIF. */
const GPS_POINTER = Buffer.from([0x25, 0x88]);

interface Created {
  attachmentId: string;
  upload: { url: string; method: string; headers: Record<string, string>; expiresAt: string };
}

/**
 * The attachment flow and its refusals, through REST `fetch`, a generated Connect client and raw
 * HTTP to the presigned URLs. Every refusal checks that nothing was stored or changed.
 */
export function mediaScenarios(target: () => MediaTarget): void {
  const api = () => restClient(target().url);
  const absolute = (url: string) => new URL(url, target().url).toString();

  const create = async (
    user: TestUser,
    to: { recipient?: string; groupId?: string },
    body: Buffer,
    contentType: string,
    fileName = "file.bin",
  ) =>
    api().post<Created>(
      "/attachments",
      { ...to, fileName, contentType, size: body.length, sha256: sha256(body) },
      user.token,
    );
  const put = (created: Created, body: Buffer, headers: Record<string, string> = {}) =>
    fetch(absolute(created.upload.url), {
      method: "PUT",
      headers: { ...created.upload.headers, ...headers },
      body,
    });
  /** Create, PUT and complete: the ready attachment's JSON. */
  const upload = async (
    user: TestUser,
    to: { recipient?: string; groupId?: string },
    body: Buffer,
    contentType: string,
    fileName?: string,
  ): Promise<Json> => {
    const created = await create(user, to, body, contentType, fileName);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await put(created.body, body)).status).toBe(200);
    const done = await api().post(`/attachments/${created.body.attachmentId}/complete`, {}, user.token);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    return done.body;
  };
  const download = async (user: TestUser, attachmentId: string, query = "") => {
    const reply = await api().get(`/attachments/${attachmentId}${query}`, user.token);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const res = await fetch(absolute(reply.body.url));
    expect(res.status).toBe(200);
    return { reply, res, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const history = async (user: TestUser, path: string) =>
    (await api().get(path, user.token)).body.messages as Json[];
  const group = async (owner: TestUser, members: TestUser[]) => {
    const made = await api().post(
      "/groups/create",
      { name: "media", members: members.map((m) => m.username) },
      owner.token,
    );
    expect(made.status).toBe(201);
    return made.body.groupId as string;
  };

  describe("attachments", () => {
    it("goes from upload to message to download through REST and the presigned URLs", async () => {
      const [alice, bob, carol] = [await newUser(api()), await newUser(api()), await newUser(api())];
      const body = randomBytes(256 * 1024);
      const created = await create(alice, { recipient: bob.username }, body, "application/pdf", "report.pdf");
      expect(created.status).toBe(201);
      expect(created.body.upload.method).toBe("PUT");
      expect(Date.parse(created.body.upload.expiresAt)).toBeGreaterThan(Date.now());
      // A PDF needs a PDF signature: the sniffer would refuse these random bytes, so make them one.
      const pdf = Buffer.concat([Buffer.from("%PDF-1.7\n"), body]);
      const createdPdf = await create(
        alice,
        { recipient: bob.username },
        pdf,
        "application/pdf",
        "report.pdf",
      );
      expect((await put(createdPdf.body, pdf)).status).toBe(200);
      const attachment = (
        await api().post(`/attachments/${createdPdf.body.attachmentId}/complete`, {}, alice.token)
      ).body;
      expect(attachment).toEqual({
        attachmentId: createdPdf.body.attachmentId,
        fileName: "report.pdf",
        contentType: "application/pdf",
        size: pdf.length,
        sha256: sha256(pdf),
        hasThumbnail: false,
      });

      const sent = await api().post(
        "/chat/send",
        { recipient: bob.username, message: "the report", attachments: [attachment.attachmentId] },
        alice.token,
      );
      expect(sent.status).toBe(200);
      expect(sent.body).toMatchObject({
        senderId: alice.userId,
        recipientId: bob.userId,
        content: "the report",
      });
      expect(sent.body.attachments).toEqual([attachment]);

      const [received] = (await history(bob, `/chat/messages?recipient=${alice.username}`)).filter(
        (m: Json) => m.messageId === sent.body.messageId,
      );
      expect(received?.attachments).toEqual([attachment]);

      const { res, bytes } = await download(bob, attachment.attachmentId);
      expect(bytes.equals(pdf)).toBe(true);
      expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
      const redirect = await fetch(`${target().url}/attachments/${attachment.attachmentId}?redirect=1`, {
        headers: { authorization: `Bearer ${bob.token}` },
        redirect: "manual",
      });
      expect(redirect.status).toBe(302);
      expect((await fetch(absolute(redirect.headers.get("location") ?? ""))).status).toBe(200);

      // Someone outside the conversation gets no URL.
      const outsider = await api().get(`/attachments/${attachment.attachmentId}`, carol.token);
      expect(outsider.status).toBe(403);
      expect(outsider.body.url).toBeUndefined();
      // The upload that was never PUT is still pending: it cannot be sent.
      const pending = await api().post(
        "/chat/send",
        { recipient: bob.username, message: "pending", attachments: [created.body.attachmentId] },
        alice.token,
      );
      expect(pending.status).toBe(409);
    });

    it("works the same through a generated Connect client, for a group", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const transport = createConnectTransport({ baseUrl: target().url, httpVersion: "1.1" });
      const media = createClient(MediaService, transport);
      const messages = createClient(MessageService, transport);
      const groups = createClient(GroupService, transport);
      const as = (user: TestUser) => ({ headers: { authorization: `Bearer ${user.token}` } });
      const { group } = await groups.createGroup(
        { name: "connect media", memberUsernames: [bob.username] },
        as(alice),
      );
      const groupId = group?.groupId ?? "";

      const text = Buffer.from("hello from a connect client\n".repeat(100));
      const created = await media.createUpload(
        {
          conversation: { case: "groupId", value: groupId },
          fileName: "notes.txt",
          contentType: "text/plain",
          sizeBytes: BigInt(text.length),
          sha256: sha256(text),
        },
        as(alice),
      );
      const res = await fetch(absolute(created.uploadUrl), {
        method: "PUT",
        headers: created.uploadHeaders,
        body: text,
      });
      expect(res.status).toBe(200);
      const { attachment } = await media.completeUpload({ attachmentId: created.attachmentId }, as(alice));
      expect(attachment?.sizeBytes).toBe(BigInt(text.length));

      const { message } = await messages.sendGroupMessage(
        { groupId, content: "", attachmentIds: [created.attachmentId] },
        as(alice),
      );
      expect(message?.content).toBe("");
      expect(message?.attachments.map((a) => a.attachmentId)).toEqual([created.attachmentId]);
      const page = await messages.listGroupMessages({ groupId }, as(bob));
      expect(page.messages.at(-1)?.attachments[0]?.sha256).toBe(sha256(text));

      const { url } = await media.getAttachmentUrl({ attachmentId: created.attachmentId }, as(bob));
      const got = await fetch(absolute(url));
      expect(Buffer.from(await got.arrayBuffer()).equals(text)).toBe(true);
    });

    it("strips EXIF and GPS from an uploaded JPEG and makes a thumbnail", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const jpeg = await jpegWithGps();
      expect((await sharp(jpeg).metadata()).exif?.includes(GPS_POINTER)).toBe(true);
      expect(jpeg.includes(Buffer.from("parley-exif-marker"))).toBe(true);

      const attachment = await upload(alice, { recipient: bob.username }, jpeg, "image/jpeg", "holiday.jpg");
      expect(attachment).toMatchObject({
        contentType: "image/jpeg",
        hasThumbnail: true,
        width: 640,
        height: 480,
      });

      const { res, bytes } = await download(bob, attachment.attachmentId);
      expect(res.headers.get("content-type")).toBe("image/jpeg");
      expect(res.headers.get("content-disposition")).toMatch(/^inline;/);
      const served = await sharp(bytes).metadata();
      expect(served.format).toBe("jpeg");
      expect(served.exif).toBeUndefined();
      expect(bytes.includes(Buffer.from("parley-exif-marker"))).toBe(false);
      // The reference describes what a download returns.
      expect(attachment.sha256).toBe(sha256(bytes));
      expect(attachment.size).toBe(bytes.length);

      const thumb = await download(bob, attachment.attachmentId, "?thumbnail=1");
      const thumbnail = await sharp(thumb.bytes).metadata();
      expect(thumbnail.format).toBe("webp");
      expect(Math.max(thumbnail.width ?? 0, thumbnail.height ?? 0)).toBeLessThanOrEqual(320);
      expect(thumbnail.exif).toBeUndefined();
      // The original, GPS and all, is not kept.
      expect((await target().objects()).filter((k) => k.includes(attachment.attachmentId)).sort()).toEqual([
        `attachments/${attachment.attachmentId}/safe`,
        `attachments/${attachment.attachmentId}/thumbnail`,
      ]);
    });

    it("serves an uploaded HTML file as a download, never inline", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const html = Buffer.from("<!doctype html><script>alert(document.cookie)</script>");
      const attachment = await upload(alice, { recipient: bob.username }, html, "text/html", "page.html");
      const { res, bytes } = await download(bob, attachment.attachmentId);
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="page.html"/);
      expect(bytes.equals(html)).toBe(true);
      const thumb = await api().get(`/attachments/${attachment.attachmentId}?thumbnail=1`, bob.token);
      expect(thumb.status).toBe(404);
    });
  });

  describe("attachment refusals, each changing nothing", () => {
    const unchanged = async (run: () => Promise<void>) => {
      const before = await target().objects();
      await run();
      expect(await target().objects()).toEqual(before);
    };

    it("refuses uploads to a group from a non-member, and a removed member's uploads and downloads", async () => {
      const [alice, bob, mallory] = [await newUser(api()), await newUser(api()), await newUser(api())];
      const groupId = await group(alice, [bob]);
      const body = Buffer.from("group notes");
      await unchanged(async () => {
        const res = await create(mallory, { groupId }, body, "text/plain");
        expect(res.status).toBe(403);
      });
      const attachment = await upload(bob, { groupId }, body, "text/plain");
      expect((await api().get(`/attachments/${attachment.attachmentId}`, mallory.token)).status).toBe(403);
      expect((await api().get(`/attachments/${attachment.attachmentId}`, alice.token)).status).toBe(200);

      const removed = await api().del(
        `/groups/${groupId}/remove-member`,
        { member: bob.username },
        alice.token,
      );
      expect(removed.status).toBe(200);
      await unchanged(async () => {
        expect((await api().get(`/attachments/${attachment.attachmentId}`, bob.token)).status).toBe(403);
        expect((await create(bob, { groupId }, body, "text/plain")).status).toBe(403);
        const send = await api().post(
          `/groups/${groupId}/send`,
          { message: "still here?", attachments: [attachment.attachmentId] },
          bob.token,
        );
        expect(send.status).toBe(403);
      });
    });

    it("refuses to attach someone else's attachment, or one from another conversation", async () => {
      const [alice, bob, carol] = [await newUser(api()), await newUser(api()), await newUser(api())];
      const forBob = await upload(alice, { recipient: bob.username }, Buffer.from("for bob"), "text/plain");
      const before = await history(alice, `/chat/messages`);

      const stolen = await api().post(
        "/chat/send",
        { recipient: alice.username, message: "mine now", attachments: [forBob.attachmentId] },
        bob.token,
      );
      expect(stolen.status).toBe(403);
      const elsewhere = await api().post(
        "/chat/send",
        { recipient: carol.username, message: "wrong place", attachments: [forBob.attachmentId] },
        alice.token,
      );
      expect(elsewhere.status).toBe(403);
      const unknown = await api().post(
        "/chat/send",
        { recipient: bob.username, message: "ghost", attachments: [randomUUID()] },
        alice.token,
      );
      expect(unknown.status).toBe(404);
      expect(await history(alice, `/chat/messages`)).toEqual(before);
      expect(await history(carol, `/chat/messages`)).toEqual([]);
    });

    it("refuses a PUT of another length, type or checksum, and completing an upload that never arrived", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const body = Buffer.from("exactly these bytes");
      const created = (await create(alice, { recipient: bob.username }, body, "text/plain")).body as Created;
      await unchanged(async () => {
        expect((await put(created, Buffer.concat([body, Buffer.from("!")]))).status).toBe(403);
        expect((await put(created, body, { "content-type": "text/html" })).status).toBe(403);
        const otherSum = Buffer.from(sha256(Buffer.from("other")), "hex").toString("base64");
        expect((await put(created, body, { "x-amz-checksum-sha256": otherSum })).status).toBe(403);
        const sameLength = Buffer.from("exactly those bytes");
        expect(sameLength.length).toBe(body.length);
        expect((await put(created, sameLength)).status).toBe(400);
        const tampered = { ...created, upload: { ...created.upload, url: tamper(created.upload.url) } };
        expect((await put(tampered, body)).status).toBe(403);
        const complete = await api().post(`/attachments/${created.attachmentId}/complete`, {}, alice.token);
        expect(complete.status).toBe(409);
        expect(complete.body.error.code).toBe("failed_precondition");
      });
      // The URL still works for the right bytes.
      expect((await put(created, body)).status).toBe(200);
    });

    it("refuses a declared type that the bytes contradict, and removes what was uploaded", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const notPng = Buffer.from("<html>this is not a PNG</html>");
      const created = (await create(alice, { recipient: bob.username }, notPng, "image/png", "x.png"))
        .body as Created;
      await unchanged(async () => {
        expect((await put(created, notPng)).status).toBe(200);
        const complete = await api().post(`/attachments/${created.attachmentId}/complete`, {}, alice.token);
        expect(complete.status).toBe(400);
        expect(complete.body.error.message).toMatch(/type/);
      });
      const jpeg = await jpegWithGps();
      const lying = (await create(alice, { recipient: bob.username }, jpeg, "text/plain", "a.txt"))
        .body as Created;
      await unchanged(async () => {
        expect((await put(lying, jpeg)).status).toBe(200);
        expect(
          (await api().post(`/attachments/${lying.attachmentId}/complete`, {}, alice.token)).status,
        ).toBe(400);
      });
      for (const id of [created.attachmentId, lying.attachmentId]) {
        expect((await api().get(`/attachments/${id}`, bob.token)).status).toBe(409);
        const send = await api().post(
          "/chat/send",
          { recipient: bob.username, message: "x", attachments: [id] },
          alice.token,
        );
        expect(send.status).toBe(409);
      }
    });

    it("refuses oversize and disallowed uploads, unknown ids and bad requests", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      await unchanged(async () => {
        const base = {
          recipient: bob.username,
          fileName: "big.bin",
          contentType: "application/zip",
          sha256: "a".repeat(64),
        };
        const oversize = await api().post(
          "/attachments",
          { ...base, size: 100 * 1024 * 1024 + 1 },
          alice.token,
        );
        expect(oversize.status).toBe(400);
        expect(oversize.body.error.message).toMatch(/at most/);
        const exe = await api().post(
          "/attachments",
          { ...base, size: 10, contentType: "application/x-msdownload" },
          alice.token,
        );
        expect(exe.status).toBe(400);
        expect(
          (await api().post("/attachments", { ...base, size: 10, sha256: "nope" }, alice.token)).status,
        ).toBe(400);
        expect(
          (await api().post("/attachments", { ...base, size: 10, fileName: "../etc/passwd" }, alice.token))
            .status,
        ).toBe(400);
        expect(
          (
            await api().post(
              "/attachments",
              { ...base, size: 10, recipient: "nobody_here_at_all" },
              alice.token,
            )
          ).status,
        ).toBe(404);
        expect((await api().post("/attachments", { ...base, size: 10 })).status).toBe(401);
        const unknown = randomUUID();
        expect((await api().get(`/attachments/${unknown}`, alice.token)).status).toBe(404);
        expect((await api().post(`/attachments/${unknown}/complete`, {}, alice.token)).status).toBe(404);
        expect((await api().get("/attachments/not-an-id", alice.token)).status).toBe(404);
      });
    });

    it("refuses a tampered download URL", async () => {
      const [alice, bob] = [await newUser(api()), await newUser(api())];
      const attachment = await upload(
        alice,
        { recipient: bob.username },
        Buffer.from("secret"),
        "text/plain",
      );
      const { url } = (await api().get(`/attachments/${attachment.attachmentId}`, bob.token)).body;
      expect((await fetch(absolute(tamper(url)))).status).toBe(403);
      expect((await fetch(absolute(url))).status).toBe(200);
    });
  });
}

/** One character of the signature changed (S3's X-Amz-Signature, or the local grant's MAC at the end). */
export function tamper(url: string): string {
  if (url.includes("X-Amz-Signature=")) {
    return url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`,
    );
  }
  return url.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
}

export type { RestClient };
