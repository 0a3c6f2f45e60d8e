import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserDirectoryServiceService } from "../gen/grpc/parley/internal/v1/directory.js";
import { AuthServiceService } from "../gen/grpc/parley/v1/auth.js";
import { startGrpcServer } from "../kit/grpc/server.js";
import { loadOrCreateKey } from "../kit/key-file.js";
import type { ParleyModule } from "../kit/module.js";
import { migrate } from "../kit/sql/migrations.js";
import { Accounts } from "./accounts.js";
import { authConfig } from "./config.js";
import { authHandlers, directoryHandlers } from "./handlers.js";
import { Sessions } from "./sessions.js";
import { SigningKeys } from "./signing-keys.js";
import { SqlAuthStore } from "./store.sql.js";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));
const PRUNE_INTERVAL_MS = 3_600_000;

/** The seed's User Authentication Service: users, credentials, refresh tokens, signing keys. */
export const authModule: ParleyModule = {
  name: "auth",
  needs: [],
  async start(ctx) {
    const config = authConfig.load(ctx.env);
    const logger = ctx.logger.child({ target: "auth" });
    // Beside the database folder, not in it: <data>/auth is PGlite's own.
    const secret = loadOrCreateKey(config.signingKeySecret, join(ctx.config.dataDir, "auth-signing-secret"));
    const db = await ctx.sql("auth");
    await migrate(db, MIGRATIONS);
    const store = new SqlAuthStore(db);

    const keys = new SigningKeys(store, secret, {
      rotationSeconds: config.signingKeyRotationSeconds,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      logger,
    });
    await keys.start();
    const window = config.loginLimitWindowSeconds;
    const sessions = new Sessions(store, keys, {
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
      loginLimits: {
        perUsername: ctx.rateLimiter("login-username", {
          limit: config.loginLimitPerUsername,
          windowSeconds: window,
        }),
        perAddress: ctx.rateLimiter("login-address", {
          limit: config.loginLimitPerAddress,
          windowSeconds: window,
        }),
      },
    });
    const pruning = setInterval(() => {
      sessions.pruneExpired().catch((err: unknown) => logger.error({ err }, "pruning refresh tokens failed"));
    }, PRUNE_INTERVAL_MS);
    pruning.unref();
    const accounts = new Accounts(store);

    let server: Awaited<ReturnType<typeof startGrpcServer>>;
    try {
      server = await startGrpcServer({
        target: "auth",
        bind: ctx.grpcBind("auth"),
        logger: ctx.logger,
        verifier: ctx.verifier,
        protoFiles: ["parley/v1/auth.proto", "parley/internal/v1/directory.proto"],
        services: [
          {
            name: "parley.v1.AuthService",
            definition: AuthServiceService,
            handlers: authHandlers(accounts, sessions, keys),
            access: "user",
            publicMethods: ["register", "login", "refresh", "logout", "getJwks"],
          },
          {
            name: "parley.internal.v1.UserDirectoryService",
            definition: UserDirectoryServiceService,
            handlers: directoryHandlers(accounts),
            access: "internal",
          },
        ],
      });
    } catch (err) {
      keys.stop();
      clearInterval(pruning);
      throw err;
    }
    ctx.addresses.register("auth", server.address);
    return {
      async stop() {
        keys.stop();
        clearInterval(pruning);
        await server.stop(ctx.config.shutdownGraceSeconds * 1000);
      },
    };
  },
};
