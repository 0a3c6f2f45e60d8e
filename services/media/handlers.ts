import type {
  ResolveAttachmentsRequest,
  ResolveAttachmentsResponse,
} from "../gen/grpc/parley/internal/v1/attachments.js";
import type {
  CompleteUploadRequest,
  CompleteUploadResponse,
  CreateUploadRequest,
  CreateUploadResponse,
  GetAttachmentUrlRequest,
  GetAttachmentUrlResponse,
} from "../gen/grpc/parley/v1/media.js";
import { invalidArgument, unauthenticated } from "../kit/errors.js";
import type { CallContext } from "../kit/grpc/server.js";
import type { ConversationTarget } from "./access.js";
import type { Attachments } from "./attachments.js";

/** parley.v1.MediaService: every method acts as the verified caller. */
export function mediaHandlers(attachments: Attachments) {
  return {
    async createUpload(request: CreateUploadRequest, ctx: CallContext): Promise<CreateUploadResponse> {
      const sizeBytes = Number(request.sizeBytes);
      const { attachmentId, upload } = await attachments.createUpload(callerOf(ctx), {
        target: targetOf(request),
        fileName: request.fileName,
        contentType: request.contentType,
        sizeBytes,
        sha256: request.sha256,
      });
      return {
        attachmentId,
        uploadUrl: upload.url,
        uploadMethod: upload.method,
        uploadHeaders: upload.headers,
        expiresAt: upload.expiresAt,
      };
    },
    async completeUpload(request: CompleteUploadRequest, ctx: CallContext): Promise<CompleteUploadResponse> {
      return { attachment: await attachments.completeUpload(callerOf(ctx), request.attachmentId) };
    },
    async getAttachmentUrl(
      request: GetAttachmentUrlRequest,
      ctx: CallContext,
    ): Promise<GetAttachmentUrlResponse> {
      const { url, attachment } = await attachments.downloadUrl(
        callerOf(ctx),
        request.attachmentId,
        request.thumbnail,
      );
      return { url: url.url, expiresAt: url.expiresAt, attachment };
    },
  };
}

/** parley.internal.v1.AttachmentService: asked by messages on every send with attachments. */
export function attachmentHandlers(attachments: Attachments) {
  return {
    async resolveAttachments(request: ResolveAttachmentsRequest): Promise<ResolveAttachmentsResponse> {
      return {
        attachments: await attachments.resolve(
          request.attachmentIds,
          request.senderId,
          request.conversationId,
        ),
      };
    },
  };
}

function targetOf(request: CreateUploadRequest): ConversationTarget {
  if (request.groupId !== undefined) return { groupId: request.groupId };
  if (request.recipientUsername !== undefined) return { recipientUsername: request.recipientUsername };
  throw invalidArgument("recipient_username or group_id is required");
}

function callerOf(ctx: CallContext): string {
  if (!ctx.principal) throw unauthenticated();
  return ctx.principal.userId;
}
