import { z } from "zod";
import { call } from "../../kit/grpc/client.js";
import { messageJson, messagePageJson } from "../json.js";
import type { Upstreams } from "../upstreams.js";
import { ok, type RestRoute } from "./route.js";
import { attachmentIds, pagingFields, parse, queryObject, text } from "./validate.js";

const sendBody = z.strictObject({
  recipient: text(),
  message: text(),
  clientMessageId: text().optional(),
  attachments: attachmentIds,
});

const historyQuery = z.object({
  recipient: z.string().min(1, "must not be empty").optional(),
  ...pagingFields,
});

/** The seed's one-on-one chat: send to a username, read history (one conversation or all). */
export function chatRoutes(upstreams: Upstreams): RestRoute[] {
  return [
    {
      method: "POST",
      path: "/chat/send",
      auth: true,
      async handle(req) {
        const body = await req.body(sendBody);
        const { message } = await call(
          upstreams.messages,
          "sendDirectMessage",
          {
            recipientUsername: body.recipient,
            content: body.message,
            clientMessageId: body.clientMessageId ?? "",
            attachmentIds: body.attachments ?? [],
          },
          req.call,
        );
        return ok(messageJson(message));
      },
    },
    {
      method: "GET",
      path: "/chat/messages",
      auth: true,
      async handle(req) {
        const query = parse(historyQuery, queryObject(req.query, ["recipient", "limit", "before"]), "query");
        const page = await call(
          upstreams.messages,
          "listDirectMessages",
          { recipientUsername: query.recipient ?? "", limit: query.limit ?? 0, before: query.before ?? "" },
          req.call,
        );
        return ok(messagePageJson(page));
      },
    },
  ];
}
