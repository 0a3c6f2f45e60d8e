import { resolve } from "node:path";
import { AttachmentServiceService } from "../gen/grpc/parley/internal/v1/attachments.js";
import { UserDirectoryServiceClient } from "../gen/grpc/parley/internal/v1/directory.js";
import { MembershipServiceClient } from "../gen/grpc/parley/internal/v1/membership.js";
import { MediaServiceService } from "../gen/grpc/parley/v1/media.js";
import { blobConfig, usesS3 } from "../kit/blob/blob.config.js";
import { openBlobStore } from "../kit/blob/blob.open.js";
import { ConfigError } from "../kit/config.js";
import { DependencyError } from "../kit/dependencies.js";
import { endpointOf } from "../kit/dependency-probes.js";
import { DomainError } from "../kit/errors.js";
import { call, createClient } from "../kit/grpc/client.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import type { ModuleContext, ParleyModule, ServiceName } from "../kit/module.js";
import { describeFailure } from "../kit/readiness.js";
import { CachedDirectory } from "../messages/participants.js";
import { ConversationAccess } from "./access.js";
import { Attachments } from "./attachments.js";
import { mediaConfig } from "./config.js";
import { attachmentHandlers, mediaHandlers } from "./handlers.js";
import { SqlAttachmentStore } from "./store.sql.js";

/** Attachments: presigned uploads and downloads, checks on completion, references for messages. */
export const mediaModule: ParleyModule = {
  name: "media",
  needs: ["auth", "groups"],
  async start(ctx) {
    const config = mediaConfig.load(ctx.env);
    if (config.pendingSeconds <= config.uploadUrlSeconds) {
      // Else an upload URL could still be used after the clean-up removed its row: an orphan object.
      throw new ConfigError([
        "PARLEY_MEDIA_PENDING_SECONDS must be longer than PARLEY_MEDIA_UPLOAD_URL_SECONDS",
      ]);
    }
    const blobSettings = blobConfig.load(ctx.env);
    const logger = ctx.logger.child({ service: "media" });
    const store = await SqlAttachmentStore.open(await ctx.sql("media"));
    const blobs = await openBlobStore(blobSettings, resolve(ctx.config.dataDir)).catch((err: unknown) => {
      const where = blobSettings.s3Endpoint ? endpointOf(blobSettings.s3Endpoint) : "the data folder";
      throw new DependencyError(
        usesS3(blobSettings) ? "s3" : "local attachment folder",
        `cannot open ${where}: ${describeFailure(err)}`,
        { cause: err },
      );
    });
    const clients = new Clients(ctx);
    // Usernames that exist keep their ids: cached briefly, as messages does for its sends.
    const directory = new CachedDirectory(
      {
        resolveUsernames: async (usernames) =>
          (await call(clients.directory(), "resolveUsernames", { usernames })).users,
        getUsers: async (userIds) => (await call(clients.directory(), "getUsers", { userIds })).users,
      },
      60_000,
    );
    const access = new ConversationAccess({
      userIdOf: async (username) => (await directory.byUsername(username))?.userId,
      membership: {
        check: (groupId, userId) => call(clients.membership(), "checkMembership", { groupId, userId }),
      },
    });
    const attachments = new Attachments({
      store,
      blobs,
      access,
      limiter: ctx.rateLimiter("media-create", { limit: config.createLimit, windowSeconds: 60 }),
      config,
      logger,
    });

    let server: Awaited<ReturnType<typeof startGrpcServer>>;
    try {
      server = await startGrpcServer({
        target: "media",
        bind: ctx.grpcBind("media"),
        logger: ctx.logger,
        verifier: ctx.verifier,
        protoFiles: ["parley/v1/media.proto", "parley/internal/v1/attachments.proto"],
        services: [
          {
            name: "parley.v1.MediaService",
            definition: MediaServiceService,
            handlers: mediaHandlers(attachments),
            access: "user",
          },
          {
            name: "parley.internal.v1.AttachmentService",
            definition: AttachmentServiceService,
            handlers: attachmentHandlers(attachments),
            access: "internal",
          },
        ],
      });
    } catch (err) {
      blobs.close();
      throw err;
    }
    ctx.addresses.register("media", server.address);

    let cleaning: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      cleaning = attachments
        .cleanup()
        .then(
          (removed) =>
            (removed.staleUploads > 0 || removed.originals > 0) &&
            logger.info(removed, "removed stale pending uploads and leftover image originals"),
        )
        .catch((err: unknown) => logger.warn({ err }, "attachment clean-up failed"));
    }, config.cleanupIntervalSeconds * 1000);
    timer.unref();

    return {
      async stop() {
        clearInterval(timer);
        await server.stop(ctx.config.shutdownGraceSeconds * 1000);
        await cleaning;
        blobs.close();
        clients.close();
      },
    };
  },
};

/** gRPC clients of the services media asks, made on first use (their addresses may come later). */
class Clients {
  private directoryClient: UserDirectoryServiceClient | undefined;
  private membershipClient: MembershipServiceClient | undefined;

  constructor(private readonly ctx: ModuleContext) {}

  directory(): UserDirectoryServiceClient {
    this.directoryClient ??= createClient(UserDirectoryServiceClient, this.address("auth"));
    return this.directoryClient;
  }

  membership(): MembershipServiceClient {
    this.membershipClient ??= createClient(MembershipServiceClient, this.address("groups"));
    return this.membershipClient;
  }

  private address(service: ServiceName): string {
    try {
      return this.ctx.addresses.resolve(service);
    } catch (err) {
      throw new DomainError("unavailable", `the ${service} service is unavailable`, { cause: err });
    }
  }

  close(): void {
    for (const client of [this.directoryClient, this.membershipClient]) client?.close();
  }
}
