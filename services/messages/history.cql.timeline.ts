import type { Client, types } from "cassandra-driver";
import type { PageQuery } from "./history.js";

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
 * at the same time when the cursor names the bucket.
 */
export class Timeline {
  private readonly cql: { latest: string; older: string; buckets: string; bucketsUpTo: string };

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
    const start = before === undefined ? undefined : this.bucketOf(before);
    const [buckets, startRows] = await Promise.all([
      start === undefined
        ? this.client.execute(this.cql.buckets, [key, limit + 1])
        : this.client.execute(this.cql.bucketsUpTo, [key, start, limit + 1]),
      start === undefined ? undefined : this.slice(key, start, limit, before),
    ]);
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
