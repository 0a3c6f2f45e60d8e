import type { GroupView, MemberChange, MembershipFacts, Role, UserRef } from "./membership.js";

export interface NewGroup {
  groupId: string;
  name: string;
  ownerId: string;
  createdAt: Date;
  /** The owner among them; they all join at createdAt. */
  members: (UserRef & { role: Role })[];
}

export interface MembershipCheck {
  groupExists: boolean;
  isMember: boolean;
  /** Every member's id when `isMember`, else empty. */
  memberIds: string[];
}

/** The groups role: where groups and their members are kept. */
export interface GroupStore {
  create(group: NewGroup): Promise<GroupView>;
  /** undefined when there is no such group. */
  get(groupId: string): Promise<GroupView | undefined>;
  /** The groups `userId` is a member of, oldest first. */
  listForMember(userId: string): Promise<GroupView[]>;
  /**
   * Decides and applies one membership change atomically: `decide` sees the membership as it is
   * while the group is locked against other changes, and what it returns is applied before the
   * lock is released. When `decide` throws, nothing changes. undefined when there is no such group.
   */
  change(
    groupId: string,
    people: { actorId: string; targetId: string | undefined },
    decide: (facts: MembershipFacts) => MemberChange,
    at: Date,
  ): Promise<{ group: GroupView; change: MemberChange } | undefined>;
  /**
   * Renames a group under the same lock as membership changes: `decide` sees the actor's role and
   * the current name, throws to refuse, and says whether anything changes. undefined when there
   * is no such group.
   */
  rename(
    groupId: string,
    actorId: string,
    decide: (facts: { actorRole: Role | undefined; name: string }) => boolean,
    name: string,
  ): Promise<{ group: GroupView; renamed: boolean } | undefined>;
  /** Asked on every message send and read, so it is never cached. */
  checkMembership(groupId: string, userId: string): Promise<MembershipCheck>;
  /** The current members with when each joined; undefined when there is no such group. */
  listMembers(groupId: string): Promise<{ userId: string; joinedAt: Date }[] | undefined>;
  /**
   * Everyone who shares a group with `userId`, without them, each once; with `maxGroupMembers`,
   * only through groups of at most that many members.
   */
  listCoMembers(userId: string, maxGroupMembers?: number): Promise<string[]>;
}
