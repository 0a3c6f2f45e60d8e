import { v7 as uuidv7 } from "uuid";
import { GroupEvent } from "../gen/grpc/parley/internal/v1/records.js";
import { type MessageLog, TOPICS } from "../kit/log/log.js";
import type { MemberChange } from "./membership.js";

type Change = Pick<GroupEvent, "created" | "memberAdded" | "memberRemoved" | "memberRoleChanged" | "renamed">;

/** The event body for a membership change; undefined when nothing changed. */
export function changeOf(change: MemberChange): Change | undefined {
  switch (change.kind) {
    case "add":
      return { memberAdded: { userId: change.member.userId } };
    case "remove":
      return { memberRemoved: { userId: change.userId } };
    case "set_role":
      return { memberRoleChanged: { userId: change.userId, role: change.role } };
    case "none":
      return undefined;
  }
}

/**
 * Appends one GroupEvent to topic parley.groups, keyed by group id so each group's events stay
 * in order. Called after the change has committed: a crash between the commit and this append
 * loses the event. A transactional outbox (the event written in the change's transaction and
 * relayed from there) would close that window.
 */
export async function publishGroupEvent(
  log: MessageLog,
  event: { groupId: string; actorId: string; occurredAt: Date } & Change,
): Promise<GroupEvent> {
  const full: GroupEvent = { eventId: uuidv7(), ...event };
  await log.append(TOPICS.groups, [
    {
      key: event.groupId,
      value: GroupEvent.encode(full).finish(),
      headers: { "event-id": full.eventId },
    },
  ]);
  return full;
}
