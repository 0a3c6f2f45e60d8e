import { randomUUID } from "node:crypto";
import type { Admin, Kafka } from "kafkajs";
import type { Logger } from "../logger.js";
import type { LogRecord } from "./log.js";
import { toLogRecord } from "./log.kafka.client.js";
import { OffsetCommits } from "./log.kafka.commits.js";
import { LogEnds } from "./log.kafka.ends.js";
import { GroupMember, type GroupMembers } from "./log.kafka.member.js";

interface PartitionTail {
  /** Records at and after this offset are held (older ones are committed by the group). */
  from: bigint;
  /** The next offset the tail consumer will see. */
  position: bigint;
  records: LogRecord[];
}

export interface TailSettings {
  /** Kafka's names (with the deployment's prefix). */
  topicName: string;
  groupId: string;
  /** The role's topic name, as records carry it. */
  topic: string;
  /** Names this process's own, never-shared consumer group. */
  tailGroupPrefix: string;
  sessionTimeoutMs: number;
  /** Bound on joining the tail's group (see GroupMember). */
  startTimeoutMs: number;
}

const PRUNE_EVERY_MS = 1000;

/** The tail group's session timeout: see start(). */
const TAIL_SESSION_TIMEOUT_MS = 6_000;

/**
 * The records of one topic that one consumer group has not committed yet, kept in memory by a
 * consumer of this process's own. Kafka cannot read an offset range on demand without joining a
 * group (kafkajs has no manual assignment), so the tail is followed continuously instead by a
 * consumer in a group of its own (never the watched group's), sought to the watched group's
 * committed offsets; what the watched group commits later is dropped (on every read and every
 * second). (kafkajs's admin.setOffsets would place the group without a seek, but takes ~5 s.)
 *
 * A read asks Kafka for the partitions' ends and the group's committed offsets, then waits until
 * the tail consumer has reached those ends: a record acknowledged before the read began is in the
 * answer. Offsets committed after the tail started can only grow, so its window never needs to
 * move back; should an operator rewind the group, the rewound records are committed ones, already
 * in the store the reader combines this tail with. A read alongside a store read (hold(), then
 * readWindow()) starts its window at the committed offsets last seen instead, so it asks Kafka
 * only for the end of the partition it reads (one ListOffsets, LogEnds); pruning keeps what a held
 * window needs until it is released.
 */
export class TailReader {
  private readonly tails = new Map<number, PartitionTail>();
  /** The watched group's committed offsets as last seen (where a read's window may start). */
  private readonly committed = new Map<number, bigint>();
  /** Window starts that reads in progress hold (hold()): pruning keeps their records. */
  private readonly held = new Set<Map<number, bigint>>();
  private readonly waiters = new Set<() => void>();
  private pruning: NodeJS.Timeout | undefined;
  /**
   * The tail group's own position, so a restarted tail consumer resumes near where it was rather
   * than at the topic's beginning (take() skips what it saw already).
   */
  private readonly commits: OffsetCommits;

  private constructor(
    private readonly admin: Admin,
    private readonly ends: LogEnds,
    private readonly member: GroupMember,
    private readonly tailGroupId: string,
    private readonly settings: TailSettings,
    logger: Logger,
  ) {
    this.commits = new OffsetCommits(member.consumer, settings.topicName, (err) =>
      logger.debug({ err, group: tailGroupId }, "committing the tail group's offsets failed"),
    );
  }

  static async start(
    kafka: Kafka,
    admin: Admin,
    settings: TailSettings,
    members: GroupMembers,
    logger: Logger,
  ): Promise<TailReader> {
    const tailGroupId = `${settings.tailGroupPrefix}${randomUUID()}`;
    // The tail group has this process as its only member: after a broker restart the coordinator
    // waits out the old member's session before the rejoin, and reads 503 meanwhile, so keep it at
    // the broker's minimum (group.min.session.timeout.ms, 6 s by default) rather than 30 s.
    const sessionTimeout = Math.min(settings.sessionTimeoutMs, TAIL_SESSION_TIMEOUT_MS);
    const member = new GroupMember(
      kafka,
      {
        groupId: tailGroupId,
        sessionTimeout,
        heartbeatInterval: Math.max(100, Math.floor(sessionTimeout / 10)),
        maxWaitTimeInMs: 500,
      },
      `tail reader of ${settings.topicName} (group ${tailGroupId})`,
      members,
      logger,
    );
    const ends = await LogEnds.connect(kafka);
    const reader = new TailReader(admin, ends, member, tailGroupId, settings, logger);
    try {
      const { from: starts } = await reader.settled(
        () => reader.snapshot(),
        Date.now() + settings.startTimeoutMs,
      );
      for (const [partition, from] of starts) {
        reader.tails.set(partition, { from, position: from, records: [] });
      }
      reader.saw(starts);
      await member.start(
        settings.topicName,
        {
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const next = BigInt(batch.lastOffset()) + 1n;
            reader.take(
              batch.partition,
              batch.messages.map((m) => toLogRecord(settings.topic, batch.partition, m)),
              next,
            );
            reader.commits.mark(batch.partition, next);
          },
        },
        settings.startTimeoutMs,
      );
      // A fetch from the beginning may already be under way: take() skips what lies before the
      // window, and the seek moves every later fetch to where the watched group stands.
      for (const [partition, offset] of starts) {
        member.consumer.seek({ topic: settings.topicName, partition, offset: String(offset) });
      }
    } catch (err) {
      member.stop().catch(() => {});
      ends.disconnect().catch(() => {});
      throw err;
    }
    reader.pruning = setInterval(() => {
      reader.snapshot().then(
        ({ from }) => {
          reader.saw(from);
          reader.prune(from);
        },
        (err: unknown) => logger.warn({ err, topic: settings.topic }, "could not refresh committed offsets"),
      );
    }, PRUNE_EVERY_MS);
    reader.pruning.unref();
    return reader;
  }

  /** Uncommitted records (of one partition when given, else all), oldest first; waits at most until `deadline`. */
  async read(key: string | undefined, partition: number | undefined, deadline: number): Promise<LogRecord[]> {
    const { from, ends } = await this.settled(() => this.snapshot(), deadline);
    this.saw(from);
    this.prune(from);
    return this.collect(from, ends, key, partition, deadline);
  }

  /**
   * Fixes a window's start now, at the committed offsets last seen, and keeps its records until
   * release(): every record before it was committed by then. See KafkaLog.readUncommittedAlongside.
   */
  hold(): Map<number, bigint> {
    const from = new Map(this.committed);
    this.held.add(from);
    return from;
  }

  release(from: Map<number, bigint>): void {
    this.held.delete(from);
  }

  /** The records from a held window's start to the log's ends as Kafka gives them now. */
  async readWindow(
    from: Map<number, bigint>,
    key: string | undefined,
    partition: number | undefined,
    deadline: number,
  ): Promise<LogRecord[]> {
    const ends = await this.settled(
      () => this.ends.of(this.settings.topicName, partition === undefined ? undefined : [partition]),
      deadline,
    );
    return this.collect(from, ends, key, partition, deadline);
  }

  async stop(): Promise<void> {
    clearInterval(this.pruning);
    for (const wake of this.waiters) wake();
    // The group is deleted next: its position has nobody left to resume from it.
    this.commits.stop();
    await this.member.stop();
    await this.ends.disconnect().catch(() => {});
    await this.admin.deleteGroups([this.tailGroupId]).catch(() => {});
  }

  private take(partition: number, records: LogRecord[], next: bigint): void {
    const tail = this.tails.get(partition);
    if (!tail) return;
    for (const record of records) {
      if (record.offset < tail.position) continue; // seen before a consumer restart
      if (record.offset >= tail.from) tail.records.push(record);
      tail.position = record.offset + 1n;
    }
    if (next > tail.position) tail.position = next;
    for (const wake of [...this.waiters]) wake();
  }

  /** Records in [from, end) of the wanted partitions, once the tail consumer has reached the ends. */
  private async collect(
    from: Map<number, bigint>,
    ends: Map<number, bigint>,
    key: string | undefined,
    partition: number | undefined,
    deadline: number,
  ): Promise<LogRecord[]> {
    const wanted = [...ends].filter(([p]) => partition === undefined || p === partition);
    await this.reached(wanted, deadline);
    const byPartition = wanted.map(([p, end]) => {
      const start = from.get(p) ?? 0n;
      return (this.tails.get(p)?.records ?? []).filter(
        (r) => r.offset >= start && r.offset < end && (key === undefined || r.key === key),
      );
    });
    return mergeByTime(byPartition);
  }

  /** Committed offsets only grow: keeps the highest seen per partition. */
  private saw(from: Map<number, bigint>): void {
    for (const [partition, offset] of from) {
      if (offset > (this.committed.get(partition) ?? -1n)) this.committed.set(partition, offset);
    }
  }

  /**
   * `ask`, asked again while Kafka answers with an error it marks retriable — after a restart
   * the group coordinator says "loading" for a while after appends already succeed — until `deadline`.
   */
  private async settled<T>(ask: () => Promise<T>, deadline: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ask();
      } catch (err) {
        const wait = Math.min(1000, 50 * 2 ** attempt);
        if ((err as { retriable?: boolean }).retriable !== true || Date.now() + wait > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Where the watched group's uncommitted window begins and the log ends, per partition. */
  private async snapshot(): Promise<{ from: Map<number, bigint>; ends: Map<number, bigint> }> {
    const [committed, ends] = await Promise.all([
      this.admin.fetchOffsets({ groupId: this.settings.groupId, topics: [this.settings.topicName] }),
      this.admin.fetchTopicOffsets(this.settings.topicName),
    ]);
    const from = new Map<number, bigint>();
    for (const end of ends) from.set(end.partition, BigInt(end.low));
    for (const entry of committed[0]?.partitions ?? []) {
      const offset = BigInt(entry.offset);
      // -1: nothing committed; the window starts at the oldest record Kafka still keeps.
      if (offset > (from.get(entry.partition) ?? 0n)) from.set(entry.partition, offset);
    }
    return { from, ends: new Map(ends.map((o) => [o.partition, BigInt(o.high)])) };
  }

  /** Drops records before `from`, except those a held window still needs. */
  private prune(from: Map<number, bigint>): void {
    for (const [partition, committed] of from) {
      let offset = committed;
      for (const window of this.held) {
        const start = window.get(partition) ?? 0n;
        if (start < offset) offset = start;
      }
      const tail = this.tails.get(partition);
      if (!tail || offset <= tail.from) continue;
      tail.from = offset;
      const keep = tail.records.findIndex((r) => r.offset >= offset);
      tail.records = keep < 0 ? [] : tail.records.slice(keep);
    }
  }

  private reached(ends: [number, bigint][], deadline: number): Promise<void> {
    const done = () => ends.every(([p, end]) => (this.tails.get(p)?.position ?? 0n) >= end);
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (done()) finish();
      };
      const timer = setTimeout(
        () => finish(new Error(`Kafka: the tail of ${this.settings.topic} is behind the log`)),
        Math.max(0, deadline - Date.now()),
      );
      this.waiters.add(check);
    });
  }
}

/**
 * One list from per-partition lists, each kept in offset order. Partitions have no common order;
 * append time is the one readers can use, so the oldest head goes first.
 */
function mergeByTime(lists: LogRecord[][]): LogRecord[] {
  const heads = lists.map(() => 0);
  const out: LogRecord[] = [];
  for (;;) {
    let pick = -1;
    lists.forEach((list, i) => {
      const head = list[heads[i] as number];
      const best = pick < 0 ? undefined : lists[pick]?.[heads[pick] as number];
      if (head && (!best || head.timestamp < best.timestamp)) pick = i;
    });
    if (pick < 0) return out;
    out.push(lists[pick]?.[heads[pick] as number] as LogRecord);
    heads[pick] = (heads[pick] as number) + 1;
  }
}
