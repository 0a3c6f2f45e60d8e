import type { Consumer, ConsumerConfig, ConsumerRunConfig, Kafka } from "kafkajs";
import type { Logger } from "../logger.js";
import { describeFailure } from "../readiness.js";
import { KafkaStartError } from "./log.kafka.client.js";

/** kafkajs restarts a crashed consumer after ~300 ms; this backoff comes on top, doubling per crash. */
const RESTART_BACKOFF_MS = 250;
const RESTART_BACKOFF_MAX_MS = 2000;
/** A member out of its group this long is named on /readyz (a rebalance or a restart is shorter). */
const OUT_OF_GROUP_GRACE_MS = 5000;

/**
 * kafkajs stops restarting a consumer after an error it does not retry. One of them is a broker
 * still settling: after ~8 s of "coordinator not available" (a new broker creating
 * __consumer_offsets, a coordinator failing over) kafkajs gives up with "Failed to find group
 * coordinator" and the consumer is dead for good. Parley runs it again instead.
 */
const SETTLING = new Set(["KafkaJSGroupCoordinatorNotFound"]);

/** The consumer-group members of one log, for /readyz: which are not consuming, and why. */
export class GroupMembers {
  private readonly members = new Set<GroupMember>();

  add(member: GroupMember): void {
    this.members.add(member);
  }

  delete(member: GroupMember): void {
    this.members.delete(member);
  }

  problems(now = Date.now()): string[] {
    return [...this.members].flatMap((m) => m.problem(now) ?? []);
  }
}

/**
 * One kafkajs consumer as a member of its group. kafkajs's own `run()` resolves after the first
 * join *attempt*: on a new broker (no group coordinator until __consumer_offsets exists: "The
 * coordinator is loading") that attempt crashes, kafkajs restarts the consumer in the background,
 * and the caller would take a consumer that is in no group for a started one. So `start()`
 * resolves only once the member has joined (kafkajs's GROUP_JOIN), retrying crashed attempts with
 * backoff, and fails with an error that names the group after `timeoutMs` — never a silent wait.
 * After start-up the member is restarted whenever it crashes (by kafkajs, or by this class after
 * the SETTLING errors kafkajs gives up on); one out of its group for longer than a rebalance, or
 * one stopped for good by an error nobody retries, is reported by `problem()`.
 */
export class GroupMember {
  readonly consumer: Consumer;
  /** Since when it is out of its group (from its creation until the first join, and after a crash). */
  private outSince: number | undefined = Date.now();
  private joinedOnce = false;
  private lastError: Error | undefined;
  /** The error after which it is not restarted (neither by kafkajs nor here). */
  private gaveUp: Error | undefined;
  private crashes = 0;
  private stopping = false;
  private readonly listeners = new Set<() => void>();
  private cutBackoffShort: (() => void) | undefined;
  private runConfig: ConsumerRunConfig | undefined;

  constructor(
    kafka: Kafka,
    config: ConsumerConfig,
    /** Names it in errors, logs and /readyz, e.g. "consumer group parley.persister". */
    readonly name: string,
    private readonly registry: GroupMembers,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      ...config,
      retry: { ...config.retry, restartOnFailure: (err) => this.mayRestart(err) },
    });
    const { GROUP_JOIN, CRASH } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, () => {
      if (this.stopping) {
        // A restart kafkajs began before stop() joined anyway: leave again.
        this.consumer.disconnect().catch(() => {});
        return;
      }
      if (this.joinedOnce && this.outSince !== undefined) {
        this.logger.info({ member: this.name }, `${this.name}: joined again`);
      }
      this.outSince = undefined;
      this.joinedOnce = true;
      this.crashes = 0;
      this.changed();
    });
    this.consumer.on(CRASH, ({ payload }) => {
      this.outSince ??= Date.now();
      this.lastError = payload.error;
      if (!payload.restart && !this.stopping) {
        if (SETTLING.has(payload.error.name)) this.runAgain(payload.error);
        else {
          this.gaveUp = payload.error;
          this.logger.error(
            { member: this.name, err: payload.error },
            `${this.name}: stopped consuming; kafkajs does not restart it after this error`,
          );
        }
      }
      this.changed();
    });
    registry.add(this);
  }

  /**
   * Connects, subscribes to `topicName` and runs the consumer; resolves once it is a member of its
   * group. Fails after `timeoutMs` (or at once when kafkajs gives up on it) and then disconnects it.
   */
  async start(topicName: string, run: ConsumerRunConfig, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let listener: (() => void) | undefined;
    let step = "connecting";
    const joined = new Promise<void>((resolve, reject) => {
      listener = () => {
        if (this.joinedOnce) resolve();
        else if (this.gaveUp)
          reject(new KafkaStartError(`Kafka: ${this.name} cannot be joined`, { cause: this.gaveUp }));
      };
      this.listeners.add(listener);
      timer = setTimeout(() => {
        const message = `Kafka: ${this.name} did not join within ${timeoutMs} ms`;
        reject(
          this.lastError
            ? new KafkaStartError(message, { cause: this.lastError })
            : new KafkaStartError(`${message} (still ${step})`),
        );
      }, timeoutMs);
    });
    joined.catch(() => {});
    const steps = (async () => {
      await this.consumer.connect();
      if (this.stopping) return;
      step = "subscribing";
      await this.consumer.subscribe({ topic: topicName, fromBeginning: true });
      if (this.stopping) return;
      step = "joining";
      this.runConfig = run;
      // Resolves after the first join attempt, joined or crashed: `joined` says which.
      this.run();
      await joined;
    })();
    // Abandoned when the deadline passes first; stop() below ends what it was doing.
    steps.catch(() => {});
    try {
      await Promise.race([steps, joined]);
    } catch (err) {
      // Not awaited: kafkajs's disconnect waits for requests in flight, and a join the broker holds
      // answers only when the rebalance ends (up to the rebalance timeout).
      this.stop().catch(() => {});
      throw err;
    } finally {
      clearTimeout(timer);
      if (listener) this.listeners.delete(listener);
    }
  }

  /** Leaves the group (no restart after this); waits for the requests in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.registry.delete(this);
    this.cutBackoffShort?.();
    await this.consumer.disconnect();
  }

  /** Why it consumes nothing now, when that has lasted longer than a rebalance; undefined if it is fine. */
  problem(now: number): string | undefined {
    if (this.gaveUp) return `${this.name} stopped consuming: ${describeFailure(this.gaveUp)}`;
    if (this.outSince === undefined || now - this.outSince < OUT_OF_GROUP_GRACE_MS) return undefined;
    const seconds = Math.round((now - this.outSince) / 1000);
    const why = this.lastError ? ` (${describeFailure(this.lastError)})` : "";
    return `${this.name} ${this.joinedOnce ? "out of its group" : "not joined"} for ${seconds} s${why}`;
  }

  private run(): void {
    if (!this.runConfig || this.stopping) return;
    this.consumer.run(this.runConfig).catch((err: unknown) => {
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.gaveUp = this.lastError;
      this.changed();
    });
  }

  /** After a crash kafkajs will not restart from (it has disconnected the consumer by then). */
  private runAgain(err: Error): void {
    this.backoff(err).then(() => this.run());
  }

  /** kafkajs asks before restarting a crashed consumer; the wait here is the backoff. */
  private async mayRestart(err: Error): Promise<boolean> {
    if (this.stopping) return false;
    await this.backoff(err);
    return !this.stopping;
  }

  private async backoff(err: Error): Promise<void> {
    const delay = Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MS * 2 ** this.crashes++);
    this.logger.warn(
      { member: this.name, attempt: this.crashes, retryInMs: delay, err },
      `${this.name}: not in its group (${describeFailure(err)}); trying again`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.cutBackoffShort = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.cutBackoffShort = undefined;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
