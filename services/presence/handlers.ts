import type {
  CloseStreamsRequest,
  CloseStreamsResponse,
  GetLastSeenRequest,
  GetLastSeenResponse,
  HeartbeatStreamsRequest,
  HeartbeatStreamsResponse,
  IssueTicketRequest,
  IssueTicketResponse,
  LocateRequest,
  LocateResponse,
  RedeemTicketRequest,
  RedeemTicketResponse,
  RegisterNodeRequest,
  RegisterNodeResponse,
} from "../gen/grpc/parley/internal/v1/presence.js";
import type { Presence } from "./presence.js";

/** parley.internal.v1.PresenceService: asked by gateways and delivery. */
export function presenceHandlers(presence: Presence) {
  return {
    async registerNode(request: RegisterNodeRequest): Promise<RegisterNodeResponse> {
      await presence.registerNode(request.nodeId, request.pushAddress, request.ttlSeconds);
      return {};
    },
    async heartbeatStreams(request: HeartbeatStreamsRequest): Promise<HeartbeatStreamsResponse> {
      return {
        cameOnline: await presence.heartbeatStreams(request.nodeId, request.streams, request.ttlSeconds),
      };
    },
    async closeStreams(request: CloseStreamsRequest): Promise<CloseStreamsResponse> {
      return { wentOffline: await presence.closeStreams(request.nodeId, request.streams) };
    },
    async locate(request: LocateRequest): Promise<LocateResponse> {
      return { nodes: await presence.locate(request.userIds) };
    },
    async getLastSeen(request: GetLastSeenRequest): Promise<GetLastSeenResponse> {
      return { users: await presence.lastSeen(request.userIds) };
    },
    async issueTicket(request: IssueTicketRequest): Promise<IssueTicketResponse> {
      return presence.issueTicket(request.userId, request.sessionId, request.ttlSeconds);
    },
    async redeemTicket(request: RedeemTicketRequest): Promise<RedeemTicketResponse> {
      const owner = await presence.redeemTicket(request.ticket);
      return owner ? { valid: true, ...owner } : { valid: false, userId: "", sessionId: "" };
    },
  };
}
