import type {
  ListDirectMessagesRequest,
  ListDirectMessagesResponse,
  ListGroupMessagesRequest,
  ListGroupMessagesResponse,
  SendDirectMessageRequest,
  SendDirectMessageResponse,
  SendGroupMessageRequest,
  SendGroupMessageResponse,
} from "../gen/grpc/parley/v1/messages.js";
import { unauthenticated } from "../kit/errors.js";
import type { CallContext } from "../kit/grpc/server.js";
import type { MessageReader } from "./reading.js";
import type { Author, MessageSender } from "./sending.js";

/** parley.v1.MessageService: the caller is always the verified principal, never a request field. */
export function messageHandlers(sender: MessageSender, reader: MessageReader) {
  return {
    async sendDirectMessage(
      request: SendDirectMessageRequest,
      ctx: CallContext,
    ): Promise<SendDirectMessageResponse> {
      return { message: await sender.sendDirect(authorOf(ctx), request) };
    },
    async sendGroupMessage(
      request: SendGroupMessageRequest,
      ctx: CallContext,
    ): Promise<SendGroupMessageResponse> {
      return { message: await sender.sendGroup(authorOf(ctx), request) };
    },
    async listDirectMessages(
      request: ListDirectMessagesRequest,
      ctx: CallContext,
    ): Promise<ListDirectMessagesResponse> {
      return reader.listDirect(authorOf(ctx), request);
    },
    async listGroupMessages(
      request: ListGroupMessagesRequest,
      ctx: CallContext,
    ): Promise<ListGroupMessagesResponse> {
      return reader.listGroup(authorOf(ctx), request);
    },
  };
}

function authorOf(ctx: CallContext): Author {
  if (!ctx.principal) throw unauthenticated();
  return { userId: ctx.principal.userId, username: ctx.principal.username };
}
