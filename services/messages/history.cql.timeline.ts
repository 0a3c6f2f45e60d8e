import type { Client, types } from "cassandra-driver";
import type { PageQuery } from "./history.js";

/** Keys whose newest bucket is kept (the least recently read is let go): ~100 bytes each. */
const NEWEST_BUCKETS_KEPT = 10_000;

/** One bucketed timeline: rows in (key, bucket) partitions, and the index of its buckets. */
export interface TimelineTables {
  rows: string;
  buckets: string;
  key: string;
}

/**
 * Reads a timeline newest first across its buckets. The bucket index gives the buckets that hold
 * rows, newest first, so a page reads only those (empty buckets cost nothing) and stops at the
 * timeline's first bucket. A page reads at most limit + 1 buckets (each listed bucket older than the
 * cursor's holds at least one row); usually it is the index slice and one partition slice, read
 * at the same time: the cursor names the bucket, and a page without one (a conversation opened)
 * reads the newest bucket the index gave for the key last time. Buckets span days, so that guess
 * is nearly always right; when the index lists a newer one, that bucket is read after it.
 */
export class Timeline {
  private readonly cql: { latest: string; older: string; buckets: string; bucketsUpTo: string };
  /** The newest bucket the index listed, per key, for the next page without a cursor; bounded. */
  private readonly newest = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly tables: TimelineTables,
    columns: string,
    private readonly bucketOf: (messageId: string) => number,
  ) {
    const { rows, buckets, key } = tables;
    this.cql = {
      latest: `SELECT ${columns} FROM ${rows} WHERE ${key} = ? AND bucket = ? LIMIT ?`,
      older: `SELECT ${columns} FROM ${rows} WHERE ${key} = ? AND bucket = ? AND message_id < ? LIMIT ?`,
      buckets: `SELECT bucket FROM ${buckets} WHERE ${key} = ? LIMIT ?`,
      bucketsUpTo: `SELECT bucket FROM ${buckets} WHERE ${key} = ? AND bucket <= ? LIMIT ?`,
    };
  }

  async page(key: string, query: PageQuery): Promise<types.Row[]> {
    const { before, limit } = query;
    const start = before === undefined ? this.newest.get(key) : this.bucketOf(before);
    const [buckets, startRows] = await Promise.all([
      before === undefined
        ? this.client.execute(this.cql.buckets, [key, limit + 1])
        : this.client.execute(this.cql.bucketsUpTo, [key, start, limit + 1]),
      start === undefined ? undefined : this.slice(key, start, limit, before),
    ]);
    if (before === undefined) this.remember(key, buckets.rows[0]?.bucket);
    const rows: types.Row[] = [];
    for (const { bucket } of buckets.rows) {
      if (rows.length >= limit) break;
      const wanted = limit - rows.length;
      const slice =
        bucket === start && startRows ? startRows.slice(0, wanted) : await this.slice(key, bucket, wanted);
      rows.push(...slice);
    }
    return rows;
  }

  private remember(key: string, bucket: number | undefined): void {
    this.newest.delete(key);
    if (bucket === undefined) return;
    if (this.newest.size >= NEWEST_BUCKETS_KEPT)
      this.newest.delete(this.newest.keys().next().value as string);
    this.newest.set(key, bucket);
  }

  /** The statement that records a bucket of this timeline as holding rows. */
  bucketInsert(key: string, bucket: number): { query: string; params: unknown[] } {
    const { buckets, key: column } = this.tables;
    return { query: `INSERT INTO ${buckets} (${column}, bucket) VALUES (?, ?)`, params: [key, bucket] };
  }

  private async slice(key: string, bucket: number, limit: number, before?: string): Promise<types.Row[]> {
    const result =
      before === undefined
        ? await this.client.execute(this.cql.latest, [key, bucket, limit])
        : await this.client.execute(this.cql.older, [key, bucket, before, limit]);
    return result.rows;
  }
}
