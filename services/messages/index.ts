import { AttachmentServiceClient } from "../gen/grpc/parley/internal/v1/attachments.js";
import { DataKeyServiceClient } from "../gen/grpc/parley/internal/v1/datakeys.js";
import { UserDirectoryServiceClient } from "../gen/grpc/parley/internal/v1/directory.js";
import { MembershipServiceClient } from "../gen/grpc/parley/internal/v1/membership.js";
import { MessageServiceService } from "../gen/grpc/parley/v1/messages.js";
import { DomainError } from "../kit/errors.js";
import { call, createClient } from "../kit/grpc/client.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import type { ModuleContext, ParleyModule, ServiceName } from "../kit/module.js";
import { migrate } from "../kit/sql/migrations.js";
import { messagesConfig } from "./config.js";
import { Envelope } from "./envelope.js";
import { messageHandlers } from "./handlers.js";
import { cqlHistoryConfig } from "./history.cql.client.js";
import { CqlHistoryStore } from "./history.cql.js";
import { MIGRATIONS_DIR, SqlHistoryStore } from "./history.sql.js";
import { ClientMessageIds } from "./idempotency.js";
import { CachedDirectory } from "./participants.js";
import { startPersister } from "./persister.js";
import { MessageReader } from "./reading.js";
import { MessageSender } from "./sending.js";

/** The seed's Message Service: sends, the persister that writes history, and history reads. */
export const messagesModule: ParleyModule = {
  name: "messages",
  needs: ["auth", "groups", "crypto", "media"],
  async start(ctx) {
    const config = messagesConfig.load(ctx.env);
    const logger = ctx.logger.child({ service: "messages" });
    const db = await ctx.sql("messages");
    await migrate(db, MIGRATIONS_DIR);
    const log = await ctx.messageLog();
    const cql = cqlHistoryConfig(config);
    const cqlHistory = cql ? await CqlHistoryStore.open(cql) : undefined;
    const history = cqlHistory ?? new SqlHistoryStore(db);
    const clients = new Clients(ctx);

    const directory = new CachedDirectory(
      {
        resolveUsernames: async (usernames) =>
          (await call(clients.directory(), "resolveUsernames", { usernames })).users,
        getUsers: async (userIds) => (await call(clients.directory(), "getUsers", { userIds })).users,
      },
      config.directoryCacheSeconds * 1000,
    );
    const membership = {
      check: (groupId: string, userId: string) =>
        call(clients.membership(), "checkMembership", { groupId, userId }),
    };
    const envelope = new Envelope(
      {
        generate: (context) => call(clients.dataKeys(), "generateDataKey", { context }),
        unwrap: async (wrappedKey, context) =>
          (await call(clients.dataKeys(), "unwrapDataKey", { wrappedKey, context })).plaintextKey,
      },
      { cacheMs: config.dataKeyCacheSeconds * 1000 },
    );
    const messageLog = async () => log;
    const sender = new MessageSender({
      attachments: {
        resolve: async (attachmentIds, senderId, conversationId) =>
          (
            await call(clients.attachments(), "resolveAttachments", {
              attachmentIds,
              senderId,
              conversationId,
            })
          ).attachments,
      },
      directory,
      membership,
      envelope,
      messageLog,
      clientMessageIds: new ClientMessageIds(db),
      limiter: ctx.rateLimiter("send", { limit: config.sendLimit, windowSeconds: config.sendWindowSeconds }),
      maxContentBytes: config.maxContentBytes,
      logger,
    });
    const reader = new MessageReader({ history, messageLog, envelope, directory, membership });

    const persister = await startPersister({
      log,
      history,
      batchWaitMs: config.persisterBatchWaitMs,
      logger: logger.child({ component: "persister" }),
    });
    let server: Awaited<ReturnType<typeof startGrpcServer>>;
    try {
      server = await startGrpcServer({
        target: "messages",
        bind: ctx.grpcBind("messages"),
        logger: ctx.logger,
        verifier: ctx.verifier,
        protoFiles: ["parley/v1/messages.proto"],
        services: [
          {
            name: "parley.v1.MessageService",
            definition: MessageServiceService,
            handlers: messageHandlers(sender, reader),
            access: "user",
          },
        ],
      });
    } catch (err) {
      await persister.stop();
      await cqlHistory?.close();
      throw err;
    }
    ctx.addresses.register("messages", server.address);
    return {
      async stop() {
        // Sends in flight finish (and are durable) before the persister and clients go.
        await server.stop(ctx.config.shutdownGraceSeconds * 1000);
        await persister.stop();
        await cqlHistory?.close();
        clients.close();
      },
    };
  },
};

/** gRPC clients of the services messages calls, made on first use (their addresses may come later). */
class Clients {
  private directoryClient: UserDirectoryServiceClient | undefined;
  private membershipClient: MembershipServiceClient | undefined;
  private dataKeysClient: DataKeyServiceClient | undefined;
  private attachmentsClient: AttachmentServiceClient | undefined;

  constructor(private readonly ctx: ModuleContext) {}

  directory(): UserDirectoryServiceClient {
    this.directoryClient ??= createClient(UserDirectoryServiceClient, this.address("auth"));
    return this.directoryClient;
  }

  membership(): MembershipServiceClient {
    this.membershipClient ??= createClient(MembershipServiceClient, this.address("groups"));
    return this.membershipClient;
  }

  dataKeys(): DataKeyServiceClient {
    this.dataKeysClient ??= createClient(DataKeyServiceClient, this.address("crypto"));
    return this.dataKeysClient;
  }

  attachments(): AttachmentServiceClient {
    this.attachmentsClient ??= createClient(AttachmentServiceClient, this.address("media"));
    return this.attachmentsClient;
  }

  private address(service: ServiceName): string {
    try {
      return this.ctx.addresses.resolve(service);
    } catch (err) {
      throw new DomainError("unavailable", `the ${service} service is unavailable`, { cause: err });
    }
  }

  close(): void {
    for (const client of [
      this.directoryClient,
      this.membershipClient,
      this.dataKeysClient,
      this.attachmentsClient,
    ]) {
      client?.close();
    }
  }
}
