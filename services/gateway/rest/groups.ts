import { z } from "zod";
import { call } from "../../kit/grpc/client.js";
import { groupJson, messageJson, messagePageJson, ROLE_BY_NAME } from "../json.js";
import type { Upstreams } from "../upstreams.js";
import { created, ok, type RestRoute } from "./route.js";
import { attachmentIds, pagingFields, parse, queryObject, text } from "./validate.js";

const createBody = z.strictObject({ name: text(), members: z.array(text()).max(1024) });
const addMemberBody = z.strictObject({ member: text(), role: z.enum(["member", "admin"]).optional() });
const removeMemberBody = z.strictObject({ member: text() });
const sendBody = z.strictObject({
  message: text(),
  clientMessageId: text().optional(),
  attachments: attachmentIds,
});
const historyQuery = z.object(pagingFields);

/** The seed's group routes: create, add/remove member, send, history. */
export function groupRoutes(upstreams: Upstreams): RestRoute[] {
  const groupIdOf = (params: Record<string, string | undefined>) => params.groupId ?? "";
  return [
    {
      method: "POST",
      path: "/groups/create",
      auth: true,
      async handle(req) {
        const body = await req.body(createBody);
        const { group } = await call(
          upstreams.groups,
          "createGroup",
          { name: body.name, memberUsernames: body.members },
          req.call,
        );
        return created(groupJson(group));
      },
    },
    {
      method: "PUT",
      path: "/groups/:groupId/add-member",
      auth: true,
      async handle(req) {
        const body = await req.body(addMemberBody);
        const { group } = await call(
          upstreams.groups,
          "addMember",
          {
            groupId: groupIdOf(req.params),
            username: body.member,
            role: ROLE_BY_NAME[body.role ?? "member"],
          },
          req.call,
        );
        return ok(groupJson(group));
      },
    },
    {
      method: "DELETE",
      path: "/groups/:groupId/remove-member",
      auth: true,
      async handle(req) {
        const body = await req.body(removeMemberBody);
        const { group } = await call(
          upstreams.groups,
          "removeMember",
          { groupId: groupIdOf(req.params), username: body.member },
          req.call,
        );
        return ok(groupJson(group));
      },
    },
    {
      method: "POST",
      path: "/groups/:groupId/send",
      auth: true,
      async handle(req) {
        const body = await req.body(sendBody);
        const { message } = await call(
          upstreams.messages,
          "sendGroupMessage",
          {
            groupId: groupIdOf(req.params),
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
      path: "/groups/:groupId/messages",
      auth: true,
      async handle(req) {
        const query = parse(historyQuery, queryObject(req.query, ["limit", "before"]), "query");
        const page = await call(
          upstreams.messages,
          "listGroupMessages",
          { groupId: groupIdOf(req.params), limit: query.limit ?? 0, before: query.before ?? "" },
          req.call,
        );
        return ok(messagePageJson(page));
      },
    },
  ];
}
