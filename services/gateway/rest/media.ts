import { z } from "zod";
import { invalidArgument } from "../../kit/errors.js";
import { call } from "../../kit/grpc/client.js";
import { attachmentJson } from "../json.js";
import type { Upstreams } from "../upstreams.js";
import { created, ok, type RestRoute } from "./route.js";
import { parse, queryObject, text } from "./validate.js";

const createBody = z.strictObject({
  recipient: text().optional(),
  groupId: text().optional(),
  fileName: text(),
  contentType: text(),
  size: z.number({ error: "must be a number" }).int("must be a whole number").positive("must be positive"),
  sha256: text(),
});

const flagValue = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const urlQuery = z.object({ thumbnail: flagValue.optional(), redirect: flagValue.optional() });

/** Attachments (docs/media.md): ask to upload, complete, and get a download URL. */
export function mediaRoutes(upstreams: Upstreams): RestRoute[] {
  const idOf = (params: Record<string, string | undefined>) => params.attachmentId ?? "";
  return [
    {
      method: "POST",
      path: "/attachments",
      auth: true,
      async handle(req) {
        const body = await req.body(createBody);
        if ((body.recipient === undefined) === (body.groupId === undefined)) {
          throw invalidArgument("give exactly one of recipient and groupId");
        }
        const reply = await call(
          upstreams.media,
          "createUpload",
          {
            recipientUsername: body.recipient,
            groupId: body.groupId,
            fileName: body.fileName,
            contentType: body.contentType,
            sizeBytes: String(body.size),
            sha256: body.sha256,
          },
          req.call,
        );
        return created({
          attachmentId: reply.attachmentId,
          upload: {
            url: reply.uploadUrl,
            method: reply.uploadMethod,
            headers: reply.uploadHeaders,
            expiresAt: reply.expiresAt?.toISOString() ?? null,
          },
        });
      },
    },
    {
      method: "POST",
      path: "/attachments/:attachmentId/complete",
      auth: true,
      async handle(req) {
        const { attachment } = await call(
          upstreams.media,
          "completeUpload",
          { attachmentId: idOf(req.params) },
          req.call,
        );
        return ok(attachment && attachmentJson(attachment));
      },
    },
    {
      method: "GET",
      path: "/attachments/:attachmentId",
      auth: true,
      async handle(req) {
        const query = parse(urlQuery, queryObject(req.query, ["thumbnail", "redirect"]), "query");
        const reply = await call(
          upstreams.media,
          "getAttachmentUrl",
          { attachmentId: idOf(req.params), thumbnail: query.thumbnail ?? false },
          req.call,
        );
        if (query.redirect) return { status: 302, body: undefined, headers: { location: reply.url } };
        return ok({
          url: reply.url,
          expiresAt: reply.expiresAt?.toISOString() ?? null,
          attachment: reply.attachment && attachmentJson(reply.attachment),
        });
      },
    },
  ];
}
