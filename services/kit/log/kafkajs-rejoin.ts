import { createRequire } from "node:module";

/** The part of kafkajs's ConsumerGroup (src/consumer/consumerGroup) the fix below touches. */
interface ConsumerGroup {
  /** One per kafkajs consumer, kept across its restarts: what identifies "the same consumer". */
  instrumentationEmitter: object;
  memberId: string | null;
  joinAndSync(): Promise<void>;
  leave(): Promise<void>;
}

let fixed = false;

/**
 * Lets a kafkajs consumer that crashed rejoin its group as the member it was. kafkajs 2.2.4
 * restarts a crashed consumer (the broker went away, say) with a new ConsumerGroup whose member id
 * is empty, so it joins as a new member — while the coordinator, which kept the group (a broker
 * restart reloads it from __consumer_offsets), still counts the old member and holds the
 * rebalance until that member's session times out: every consumer of a restarted broker stood
 * still for the session timeout (30 s) after Kafka was back. Rejoining with the old member id is
 * what Kafka's own clients do; the coordinator then completes the rebalance at once. If the
 * coordinator no longer knows the id (its session expired meanwhile), it answers
 * UNKNOWN_MEMBER_ID and kafkajs joins afresh, as before. A consumer that left its group cleanly
 * forgets the id. Idempotent; patches the class every kafkajs consumer in the process uses.
 */
export function rejoinKafkajsGroupsAsTheSameMember(): void {
  if (fixed) return;
  fixed = true;
  const require = createRequire(import.meta.url);
  const group = require("kafkajs/src/consumer/consumerGroup.js") as { prototype: ConsumerGroup };
  /** A consumer's member id in its last join, by the consumer's emitter; dropped when it leaves. */
  const lastMemberId = new WeakMap<object, string>();
  const joinAndSync = group.prototype.joinAndSync;
  group.prototype.joinAndSync = async function (this: ConsumerGroup) {
    this.memberId ??= lastMemberId.get(this.instrumentationEmitter) ?? null;
    await joinAndSync.call(this);
    if (this.memberId) lastMemberId.set(this.instrumentationEmitter, this.memberId);
  };
  const leave = group.prototype.leave;
  group.prototype.leave = async function (this: ConsumerGroup) {
    await leave.call(this);
    lastMemberId.delete(this.instrumentationEmitter);
  };
}
