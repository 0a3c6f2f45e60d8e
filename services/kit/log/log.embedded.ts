import { EventEmitter } from "node:events";
import type { Logger } from "../logger.js";
import { consumerLag, logAppendDuration, observeConsumerDelay } from "../metrics.js";
import type { SqlDatabase } from "../sql/database.js";
import {
  type AppendResult,
  COMMIT_INTERVAL_MS,
  type LogRecord,
  type MessageLog,
  type NewRecord,
  type SubscribeOptions,
  type Subscription,
} from "./log.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_records (
  topic text NOT NULL,
  "offset" bigint NOT NULL,
  key text NOT NULL,
  value bytea NOT NULL,
  headers jsonb NOT NULL,
  appended_at timestamptz NOT NULL,
  PRIMARY KEY (topic, "offset")
);
CREATE INDEX IF NOT EXISTS log_records_by_key ON log_records (topic, key, "offset");
-- A small ANALYZE sample (300 rows per unit of the largest column target): read by key and offset
-- only, so row counts matter, not distributions. At the default of 100, ANALYZE in the maintenance
-- pass (pglite.autovacuum.ts) held PGlite's thread 102 ms at 2,000 appends/s (24 ms like this).
ALTER TABLE log_records
  ALTER COLUMN topic SET STATISTICS 10,
  ALTER COLUMN "offset" SET STATISTICS 10,
  ALTER COLUMN key SET STATISTICS 10,
  ALTER COLUMN value SET STATISTICS 0,
  ALTER COLUMN headers SET STATISTICS 0,
  ALTER COLUMN appended_at SET STATISTICS 10;
CREATE TABLE IF NOT EXISTS log_consumer_offsets (
  group_id text NOT NULL,
  topic text NOT NULL,
  committed bigint NOT NULL,
  PRIMARY KEY (group_id, topic)
);
`;

/** Records kept in memory per topic after their append, so consumers keeping up do not read them back. */
const RECENT_RECORDS = 2_000;

/** How long records are kept by default: Kafka's default retention (log.retention.hours=168). */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;
/** How often records past retention are deleted. */
export const TRIM_INTERVAL_MS = 60_000;
/** Records per DELETE: each holds PGlite's thread, which every store shares, ~15-20 ms (1.2 KB records). */
export const TRIM_BATCH = 1_000;

/**
 * Deletes up to $3 of the oldest records of topic $1 appended before $2 and committed by every
 * group that commits on the topic (none committed: by age alone, as Kafka's retention); the
 * count. Offsets grow with append time, so the deletable records are the oldest ones.
 */
const TRIM = `
WITH oldest AS (
  SELECT "offset" FROM log_records WHERE topic = $1 ORDER BY "offset" LIMIT $3
), gone AS (
  DELETE FROM log_records r USING oldest o
  WHERE r.topic = $1 AND r."offset" = o."offset" AND r.appended_at < $2
    AND r."offset" < COALESCE((SELECT min(committed) FROM log_consumer_offsets WHERE topic = $1), r."offset" + 1)
  RETURNING r."offset"
)
SELECT count(*)::int AS removed, max("offset")::text AS last FROM gone`;

interface Pending {
  topic: string;
  records: NewRecord[];
  resolve: (results: AppendResult[]) => void;
  reject: (err: unknown) => void;
}

interface Row {
  topic: string;
  offset: string;
  key: string;
  value: Uint8Array;
  headers: Record<string, string>;
  appended_at: Date;
}

/**
 * The message log on one embedded PostgreSQL: one partition per topic (so every key keeps its
 * order), offsets assigned by this process (the only writer), consumer groups with committed
 * offsets. Appends that arrive together are written in one transaction (group commit). Records
 * past the retention that every consumer group has committed are deleted every minute, so the
 * log does not keep a second copy of every message forever.
 */
export class EmbeddedLog implements MessageLog {
  private readonly nextOffset = new Map<string, bigint>();
  private readonly appended = new EventEmitter();
  /** Per topic, the latest appended records, contiguous offsets, oldest first. */
  private readonly recent = new Map<string, LogRecord[]>();
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  private trimTimer: NodeJS.Timeout | undefined;
  private trimming: Promise<unknown> | undefined;

  private constructor(
    private readonly db: SqlDatabase,
    private readonly logger: Logger,
    private readonly commitIntervalMs: number,
    private readonly retentionMs: number,
  ) {
    this.appended.setMaxListeners(0);
  }

  static async open(
    db: SqlDatabase,
    logger: Logger,
    options: { commitIntervalMs?: number; retentionMs?: number; trimIntervalMs?: number } = {},
  ): Promise<EmbeddedLog> {
    await db.exec(SCHEMA);
    const log = new EmbeddedLog(
      db,
      logger,
      options.commitIntervalMs ?? COMMIT_INTERVAL_MS,
      options.retentionMs ?? DEFAULT_RETENTION_MS,
    );
    for (const row of await db.query<{ topic: string; last: string }>(
      `SELECT topic, max("offset") AS last FROM log_records GROUP BY topic`,
    )) {
      log.nextOffset.set(row.topic, BigInt(row.last) + 1n);
    }
    log.trimTimer = setInterval(() => {
      log.trimming ??= log
        .trim()
        .catch((err: unknown) =>
          logger.warn({ err }, "deleting log records past retention failed; the next pass retries"),
        )
        .finally(() => {
          log.trimming = undefined;
        });
    }, options.trimIntervalMs ?? TRIM_INTERVAL_MS).unref();
    return log;
  }

  /**
   * Deletes the records appended before `now` less the retention that every group committing on
   * their topic has committed, a batch per statement; returns how many.
   */
  async trim(now = Date.now()): Promise<number> {
    const before = new Date(now - this.retentionMs);
    let removed = 0;
    for (const topic of this.nextOffset.keys()) {
      for (;;) {
        const [row] = await this.db.query<{ removed: number; last: string | null }>(TRIM, [
          topic,
          before,
          TRIM_BATCH,
        ]);
        if (row?.last) this.forget(topic, BigInt(row.last));
        removed += row?.removed ?? 0;
        if ((row?.removed ?? 0) < TRIM_BATCH) break;
      }
    }
    if (removed > 0) this.logger.debug({ removed }, "deleted log records past retention");
    return removed;
  }

  append(topic: string, records: NewRecord[]): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(new Error("log is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ topic, records, resolve, reject });
      this.startFlush();
    });
  }

  private startFlush(): void {
    if (this.flushing) return;
    // Wait one event-loop turn first: appends of requests handled in the same turn share one
    // transaction (group commit), which is what makes PGlite keep up under load.
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.flush())
      .finally(() => {
        this.flushing = undefined;
        // An append made after flush() saw an empty queue but before this ran would wait forever.
        if (this.queue.length > 0) this.startFlush();
      });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const end = logAppendDuration.startTimer({ topic: batch[0]?.topic ?? "" });
      const reserved = new Map(this.nextOffset);
      const results = batch.map((pending) =>
        pending.records.map((): AppendResult => {
          const offset = reserved.get(pending.topic) ?? 0n;
          reserved.set(pending.topic, offset + 1n);
          return { partition: 0, offset };
        }),
      );
      try {
        // One multi-row INSERT is atomic on its own: no transaction around it (three round trips
        // to PGlite's thread instead of one, for every append at low rates).
        const params: unknown[] = [];
        const rows: string[] = [];
        const appendedAt = new Date();
        batch.forEach((pending, i) => {
          pending.records.forEach((record, j) => {
            const n = params.length;
            rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6})`);
            params.push(
              pending.topic,
              String(results[i]?.[j]?.offset),
              record.key,
              record.value,
              JSON.stringify(record.headers ?? {}),
              appendedAt,
            );
          });
        });
        if (rows.length > 0) {
          await this.db.query(
            `INSERT INTO log_records (topic, "offset", key, value, headers, appended_at) VALUES ${rows.join(", ")}`,
            params,
          );
        }
        for (const [topic, offset] of reserved) this.nextOffset.set(topic, offset);
        batch.forEach((pending, i) => {
          this.remember(
            pending.records.map((record, j) => ({
              topic: pending.topic,
              partition: 0,
              offset: results[i]?.[j]?.offset as bigint,
              key: record.key,
              value: record.value,
              headers: { ...record.headers },
              timestamp: appendedAt.getTime(),
            })),
          );
        });
        batch.forEach((pending, i) => {
          pending.resolve(results[i] ?? []);
        });
        for (const topic of new Set(batch.map((p) => p.topic))) this.appended.emit(topic);
      } catch (err) {
        for (const pending of batch) pending.reject(err);
      } finally {
        end();
      }
    }
  }

  private remember(records: LogRecord[]): void {
    const topic = records[0]?.topic;
    if (topic === undefined) return;
    let kept = this.recent.get(topic);
    if (!kept) {
      kept = [];
      this.recent.set(topic, kept);
    }
    kept.push(...records);
    if (kept.length > 2 * RECENT_RECORDS) kept.splice(0, kept.length - RECENT_RECORDS);
  }

  /** Drops from memory the records up to `last`, deleted: a group starting afresh must not get them. */
  private forget(topic: string, last: bigint): void {
    const kept = this.recent.get(topic);
    const first = kept?.[0]?.offset;
    if (kept && first !== undefined && first <= last) kept.splice(0, Number(last - first) + 1);
  }

  /** Records from `offset` on, at most `limit`, if memory still holds that offset; else undefined. */
  private recentFrom(topic: string, offset: bigint, limit: number): LogRecord[] | undefined {
    const kept = this.recent.get(topic);
    const first = kept?.[0]?.offset;
    if (!kept || first === undefined || offset < first) return undefined;
    const at = Number(offset - first);
    return kept[at]?.offset === offset ? kept.slice(at, at + limit) : undefined;
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const { group, topic, handler } = options;
    const maxBatch = options.maxBatch ?? 500;
    const batchWaitMs = options.batchWaitMs ?? 0;
    let stopping = false;
    let wake: (() => void) | undefined;
    let endBatchWait: (() => void) | undefined;
    const onAppend = () => wake?.();
    this.appended.on(topic, onAppend);

    const committedRows = await this.db.query<{ committed: string }>(
      "SELECT committed FROM log_consumer_offsets WHERE group_id = $1 AND topic = $2",
      [group, topic],
    );
    let next = committedRows[0] ? BigInt(committedRows[0].committed) : 0n;
    let committed = next;
    let commitTimer: NodeJS.Timeout | undefined;
    // One commit at a time, so a later offset is never overwritten by an earlier one.
    let commits = Promise.resolve();
    const commit = () => {
      clearTimeout(commitTimer);
      commitTimer = undefined;
      commits = commits.then(async () => {
        const offset = next;
        if (offset === committed) return;
        try {
          await this.db.query(
            `INSERT INTO log_consumer_offsets (group_id, topic, committed) VALUES ($1, $2, $3)
             ON CONFLICT (group_id, topic) DO UPDATE SET committed = EXCLUDED.committed`,
            [group, topic, String(offset)],
          );
          committed = offset;
        } catch (err) {
          // The next commit carries this offset too; a crash before it redelivers, as documented.
          this.logger.warn({ err, group, topic }, "committing a consumer offset failed");
        }
      });
      return commits;
    };

    const loop = (async () => {
      let failures = 0;
      while (!stopping) {
        if ((this.nextOffset.get(topic) ?? 0n) <= next) {
          // Caught up: wait for an append instead of asking the database again.
          await new Promise<void>((resolve) => {
            wake = resolve;
            if ((this.nextOffset.get(topic) ?? 0n) > next || stopping) resolve();
          });
          wake = undefined;
          // One more turn (or the batch wait) lets appends that arrive together be one batch.
          if (batchWaitMs > 0 && !stopping) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, batchWaitMs);
              // Appends do not end the wait (gathering them is its point); stopping does.
              endBatchWait = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            endBatchWait = undefined;
          } else await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        const records =
          this.recentFrom(topic, next, maxBatch) ??
          (
            await this.db.query<Row>(
              `SELECT topic, "offset"::text AS "offset", key, value, headers, appended_at FROM log_records
               WHERE topic = $1 AND "offset" >= $2 ORDER BY log_records."offset" LIMIT $3`,
              [topic, String(next), maxBatch],
            )
          ).map(toRecord);
        consumerLag.set({ group, topic }, Number((this.nextOffset.get(topic) ?? 0n) - next));
        if (records.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            // An append may have landed between the query and now.
            if ((this.nextOffset.get(topic) ?? 0n) > next || stopping) resolve();
          });
          wake = undefined;
          continue;
        }
        try {
          await handler(records);
          failures = 0;
        } catch (err) {
          failures++;
          this.logger.error(
            { err, group, topic, offset: String(records[0]?.offset) },
            "log consumer failed; retrying batch",
          );
          await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 50 * 2 ** failures)));
          continue;
        }
        next = (records[records.length - 1]?.offset ?? next - 1n) + 1n;
        commitTimer ??= setTimeout(commit, this.commitIntervalMs);
        observeConsumerDelay(
          group,
          topic,
          records.map((r) => r.timestamp),
        );
      }
    })();

    return {
      stop: async () => {
        stopping = true;
        wake?.();
        endBatchWait?.();
        this.appended.off(topic, onAppend);
        await loop;
        await commit();
      },
    };
  }

  async readUncommitted(topic: string, group: string, key?: string): Promise<LogRecord[]> {
    const rows = await this.db.query<Row>(
      `SELECT topic, "offset"::text AS "offset", key, value, headers, appended_at FROM log_records
       WHERE topic = $1 AND ($3::text IS NULL OR key = $3) AND "offset" >= COALESCE(
         (SELECT committed FROM log_consumer_offsets WHERE group_id = $2 AND topic = $1), 0)
       ORDER BY log_records."offset"`,
      [topic, group, key ?? null],
    );
    return rows.map(toRecord);
  }

  /** One statement reads the committed offset and the records, so `store` simply follows it. */
  async readUncommittedAlongside<T>(
    topic: string,
    group: string,
    key: string | undefined,
    store: () => Promise<T>,
  ): Promise<[LogRecord[], T]> {
    const records = await this.readUncommitted(topic, group, key);
    return [records, await store()];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.trimTimer);
    await this.trimming;
    while (this.flushing) await this.flushing;
  }
}

function toRecord(row: Row): LogRecord {
  return {
    topic: row.topic,
    partition: 0,
    offset: BigInt(row.offset),
    key: row.key,
    value: row.value,
    headers: row.headers,
    timestamp: row.appended_at.getTime(),
  };
}
