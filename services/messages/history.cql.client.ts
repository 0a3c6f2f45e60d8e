import { auth, Client, policies, types } from "cassandra-driver";
import type { MessagesConfig } from "./config.js";
import type { Replication } from "./history.cql.replication.js";

export interface CqlHistoryConfig {
  contactPoints: string[];
  localDc: string;
  keyspace: string;
  replication: Replication;
  bucketDays: number;
  username?: string | undefined;
  password?: string | undefined;
  requestTimeoutMs: number;
}

/**
 * A driver client for history: token-aware routing over the local data centre's nodes (a query
 * goes straight to a replica of its partition), LOCAL_QUORUM, and every query marked idempotent
 * (history writes are upserts of immutable rows) so the driver may retry it on another node.
 * Reconnection is capped at 5 s so a node that comes back is used again within seconds.
 */
export function createCqlClient(config: CqlHistoryConfig): Client {
  const { loadBalancing, reconnection } = policies;
  return new Client({
    contactPoints: config.contactPoints,
    localDataCenter: config.localDc,
    policies: {
      loadBalancing: new loadBalancing.TokenAwarePolicy(
        new loadBalancing.DCAwareRoundRobinPolicy(config.localDc),
      ),
      reconnection: new reconnection.ExponentialReconnectionPolicy(250, 5000, false),
    },
    queryOptions: {
      consistency: types.consistencies.localQuorum,
      serialConsistency: types.consistencies.localSerial,
      prepare: true,
      isIdempotent: true,
    },
    socketOptions: { connectTimeout: config.requestTimeoutMs, readTimeout: config.requestTimeoutMs },
    // Blobs and uuids as views of the response frame instead of a copy each (three blobs and a
    // uuid per message of a page): nothing read here outlives its request, so no view keeps a frame.
    encoding: { copyBuffer: false },
    ...(config.username
      ? { authProvider: new auth.PlainTextAuthProvider(config.username, config.password ?? "") }
      : {}),
  });
}

/** The CQL history settings of the messages config, or undefined when history stays on SQL. */
export function cqlHistoryConfig(config: MessagesConfig): CqlHistoryConfig | undefined {
  if (config.cqlContactPoints.length === 0) return undefined;
  return {
    contactPoints: config.cqlContactPoints,
    localDc: config.cqlLocalDc,
    keyspace: config.cqlKeyspace,
    replication: config.cqlReplication,
    bucketDays: config.cqlBucketDays,
    username: config.cqlUsername,
    password: config.cqlPassword,
    requestTimeoutMs: config.cqlRequestTimeoutMs,
  };
}
