import { DataKeyServiceClient } from "../gen/grpc/parley/internal/v1/datakeys.js";
import { DeliveryServiceService } from "../gen/grpc/parley/internal/v1/delivery.js";
import { UserDirectoryServiceClient } from "../gen/grpc/parley/internal/v1/directory.js";
import { MembershipServiceClient } from "../gen/grpc/parley/internal/v1/membership.js";
import { PresenceServiceClient } from "../gen/grpc/parley/internal/v1/presence.js";
import { DomainError } from "../kit/errors.js";
import { call, createClient } from "../kit/grpc/client.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import type { ModuleContext, ParleyModule, ServiceName } from "../kit/module.js";
import { Envelope } from "../messages/envelope.js";
import { CachedDirectory } from "../messages/participants.js";
import { deliveryConfig } from "./config.js";
import { Delivery, startConsumers } from "./delivery.js";
import { deliveryHandlers } from "./handlers.js";
import { GatewayPusher } from "./push.js";
import { startRetentionSweep } from "./retention.js";
import { SqlDeliveryStore } from "./store.sql.js";

/**
 * Delivery: consumer groups on parley.messages, parley.groups and parley.receipts that write
 * every recipient's inbox and push to the gateways holding their streams; DeliveryService for
 * the gateways (replay, receipts, typing, presence, settings). See docs/delivery.md.
 */
export const deliveryModule: ParleyModule = {
  name: "delivery",
  needs: ["auth", "groups", "crypto", "presence"],
  async start(ctx) {
    const config = deliveryConfig.load(ctx.env);
    const logger = ctx.logger.child({ service: "delivery" });
    const store = await SqlDeliveryStore.open(await ctx.sql("delivery"));
    const log = await ctx.messageLog();
    const clients = new Clients(ctx);
    const cacheMs = config.cacheSeconds * 1000;
    const directory = new CachedDirectory(
      {
        resolveUsernames: async (usernames) =>
          (await call(clients.directory(), "resolveUsernames", { usernames })).users,
        getUsers: async (userIds) => (await call(clients.directory(), "getUsers", { userIds })).users,
      },
      cacheMs,
    );
    const envelope = new Envelope(
      {
        generate: () => Promise.reject(new Error("delivery never seals messages")),
        unwrap: async (wrappedKey, context) =>
          (await call(clients.dataKeys(), "unwrapDataKey", { wrappedKey, context })).plaintextKey,
      },
      { cacheMs },
    );
    const pusher = new GatewayPusher(
      async (userIds) => (await call(clients.presence(), "locate", { userIds })).nodes,
      logger.child({ component: "push" }),
      config.pushTimeoutMs,
      { windowMs: config.pushRetrySeconds * 1000, maxUsers: config.pushRetryMaxUsers },
    );
    const delivery = new Delivery({
      store,
      groups: {
        async members(groupId) {
          const found = await call(clients.membership(), "listMembers", { groupId });
          if (!found.groupExists) return undefined;
          return found.members.map((m) => ({ userId: m.userId, joinedAt: m.joinedAt ?? new Date(0) }));
        },
        coMembers: async (userId, maxGroupMembers) =>
          (await call(clients.membership(), "listCoMembers", { userId, maxGroupMembers })).userIds,
      },
      sources: {
        open: (record) => envelope.open(record),
        usernames: (userIds) => directory.usernames(userIds),
      },
      online: {
        lastSeen: async (userIds) => (await call(clients.presence(), "getLastSeen", { userIds })).users,
      },
      pusher,
      log,
      presenceGroupMaxMembers: config.presenceGroupMaxMembers,
      typingLimiter: ctx.rateLimiter("typing", {
        limit: config.typingLimit,
        windowSeconds: config.typingWindowSeconds,
      }),
      logger,
    });

    const consumers = await startConsumers(log, delivery, config.maxBatch);
    let server: Awaited<ReturnType<typeof startGrpcServer>>;
    try {
      server = await startGrpcServer({
        target: "delivery",
        bind: ctx.grpcBind("delivery"),
        logger: ctx.logger,
        verifier: ctx.verifier,
        protoFiles: ["parley/internal/v1/delivery.proto"],
        services: [
          {
            name: "parley.internal.v1.DeliveryService",
            definition: DeliveryServiceService,
            handlers: deliveryHandlers(delivery),
            access: "internal",
          },
        ],
      });
    } catch (err) {
      await consumers.stop();
      pusher.close();
      clients.close();
      throw err;
    }
    ctx.addresses.register("delivery", server.address);

    const sweep = startRetentionSweep({
      store,
      retentionMs: config.retentionSeconds * 1000,
      everyMs: config.sweepSeconds * 1000,
      logger,
    });

    return {
      async stop() {
        await sweep.stop();
        await server.stop(ctx.config.shutdownGraceSeconds * 1000);
        await consumers.stop();
        pusher.close();
        clients.close();
      },
    };
  },
};

/** gRPC clients of the services delivery calls, made on first use (their addresses may come later). */
class Clients {
  private readonly made = new Map<string, { close(): void }>();

  constructor(private readonly ctx: ModuleContext) {}

  directory = () => this.client("auth", UserDirectoryServiceClient);
  membership = () => this.client("groups", MembershipServiceClient);
  dataKeys = () => this.client("crypto", DataKeyServiceClient);
  presence = () => this.client("presence", PresenceServiceClient);

  private client<C extends { close(): void }>(
    service: ServiceName,
    Ctor: Parameters<typeof createClient>[0] & (new (...args: never[]) => C),
  ): C {
    const key = `${service}:${Ctor.name}`;
    let client = this.made.get(key) as C | undefined;
    if (!client) {
      let address: string;
      try {
        address = this.ctx.addresses.resolve(service);
      } catch (err) {
        throw new DomainError("unavailable", `the ${service} service is unavailable`, { cause: err });
      }
      client = createClient(Ctor, address) as unknown as C;
      this.made.set(key, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.made.values()) client.close();
  }
}
