import { PresenceServiceService } from "../gen/grpc/parley/internal/v1/presence.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import type { ParleyModule } from "../kit/module.js";
import { MemoryOnlineSessions } from "../kit/presence/sessions.memory.js";
import { RedisOnlineSessions } from "../kit/presence/sessions.redis.js";
import { presenceConfig } from "./config.js";
import { presenceHandlers } from "./handlers.js";
import { Presence } from "./presence.js";
import { MemoryPresenceState } from "./state.memory.js";
import { RedisPresenceState } from "./state.redis.js";

/**
 * Presence: which gateway node holds which user's streams, who is online and since when, and
 * single-use stream tickets. Redis when PARLEY_REDIS_URL is set (every replica and gateway sees
 * the same), else this process's memory (all-in-one: one node).
 */
export const presenceModule: ParleyModule = {
  name: "presence",
  needs: [],
  async start(ctx) {
    const config = presenceConfig.load(ctx.env);
    const redis = ctx.redis?.();
    const presence = new Presence(
      redis ? new RedisOnlineSessions(redis, ctx.redisKeyPrefix) : new MemoryOnlineSessions(),
      redis ? new RedisPresenceState(redis, ctx.redisKeyPrefix) : new MemoryPresenceState(),
      {
        defaultTtlSeconds: Math.min(config.defaultTtlSeconds, config.maxTtlSeconds),
        maxTtlSeconds: config.maxTtlSeconds,
        ticketTtlSeconds: config.ticketTtlSeconds,
        maxTicketTtlSeconds: 300,
      },
    );
    const server = await startGrpcServer({
      target: "presence",
      bind: ctx.grpcBind("presence"),
      logger: ctx.logger,
      verifier: ctx.verifier,
      protoFiles: ["parley/internal/v1/presence.proto"],
      services: [
        {
          name: "parley.internal.v1.PresenceService",
          definition: PresenceServiceService,
          handlers: presenceHandlers(presence),
          access: "internal",
        },
      ],
    });
    ctx.addresses.register("presence", server.address);
    return { stop: () => server.stop(ctx.config.shutdownGraceSeconds * 1000) };
  },
};
