import type {
  GetPresenceRequest,
  GetPresenceResponse,
  GetSettingsRequest,
  GetSettingsResponse,
  PublishPresenceRequest,
  PublishPresenceResponse,
  PublishTypingRequest,
  PublishTypingResponse,
  RecordReceiptRequest,
  RecordReceiptResponse,
  ReplayRequest,
  ReplayResponse,
  UpdateSettingsRequest,
  UpdateSettingsResponse,
} from "../gen/grpc/parley/internal/v1/delivery.js";
import type { Delivery } from "./delivery.js";

/** parley.internal.v1.DeliveryService: asked by gateways on behalf of the users they verified. */
export function deliveryHandlers(delivery: Delivery) {
  return {
    async replay(request: ReplayRequest): Promise<ReplayResponse> {
      return delivery.replay(request.userId, request.afterSeq, request.limit);
    },
    async recordReceipt(request: RecordReceiptRequest): Promise<RecordReceiptResponse> {
      await delivery.recordReceipt(request.userId, request.kind, request.conversationId, request.messageId);
      return {};
    },
    async publishTyping(request: PublishTypingRequest): Promise<PublishTypingResponse> {
      await delivery.publishTyping(request.userId, request.conversationId, request.typing);
      return {};
    },
    async publishPresence(request: PublishPresenceRequest): Promise<PublishPresenceResponse> {
      await delivery.publishPresence(request.userId, request.online, request.lastSeen);
      return {};
    },
    async getPresence(request: GetPresenceRequest): Promise<GetPresenceResponse> {
      return { presence: await delivery.getPresence(request.viewerId, request.userIds) };
    },
    async getSettings(request: GetSettingsRequest): Promise<GetSettingsResponse> {
      return { settings: await delivery.settingsOf(request.userId) };
    },
    async updateSettings(request: UpdateSettingsRequest): Promise<UpdateSettingsResponse> {
      return { settings: await delivery.updateSettings(request.userId, request.settings) };
    },
  };
}
