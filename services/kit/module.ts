import type { Redis } from "ioredis";
import type { TokenVerifier } from "./auth-verifier.js";
import type { RateLimit, RateLimiter } from "./limiter/limiter.js";
import type { MessageLog } from "./log/log.js";
import type { Logger } from "./logger.js";
import type { ProcessConfig } from "./process-config.js";
import type { SqlDatabase } from "./sql/database.js";

export type ServiceName = "auth" | "groups" | "crypto" | "messages" | "presence" | "delivery" | "media";
export type TargetName = ServiceName | "gateway";

/** Where each service's gRPC server is: PARLEY_<SERVICE>_ADDR, else the one started in this process. */
export interface AddressBook {
  resolve(service: ServiceName): string;
  register(service: ServiceName, address: string): void;
}

/** What every module may ask of the process it runs in. Stores open lazily, once per process. */
export interface ModuleContext {
  config: ProcessConfig;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  addresses: AddressBook;
  verifier: TokenVerifier;
  /** The SQL database owned by `service` (its own database; never another's). */
  sql(service: ServiceName): Promise<SqlDatabase>;
  messageLog(): Promise<MessageLog>;
  /** A limiter shared by every replica when Redis is configured, else this process's own. */
  rateLimiter(name: string, rate: RateLimit): RateLimiter;
  /** The process's Redis connection when PARLEY_REDIS_URL is set (shared; never quit it), else undefined. */
  redis?(): Redis | undefined;
  /** What every Redis key of this deployment starts with (PARLEY_REDIS_KEY_PREFIX). */
  redisKeyPrefix?: string;
  /** The bind address for a service's gRPC server. */
  grpcBind(service: ServiceName): string;
  /**
   * False while targets of this process are still starting (the gateway listens first). The
   * gateway's /readyz waits for it: in one process, event streams need presence and delivery,
   * which start after the services /readyz asks.
   */
  allTargetsStarted?(): boolean;
}

export interface RunningModule {
  stop(): Promise<void>;
  /** The public port, for the module that has one (the gateway). */
  port?: number;
}

export interface ParleyModule {
  name: TargetName;
  /** Services whose gRPC servers this module calls (started first in one process). */
  needs: ServiceName[];
  start(ctx: ModuleContext): Promise<RunningModule>;
}
