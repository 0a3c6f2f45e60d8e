import { DomainError, invalidArgument, notFound, permissionDenied } from "../kit/errors.js";

/**
 * The rules of groups, with no I/O: who may create, read and change a group's membership.
 * The store runs the decide* functions inside the transaction that applies their answer, so
 * every decision is made on the membership as it is when the change commits.
 */

export type Role = "owner" | "admin" | "member";

export interface UserRef {
  userId: string;
  username: string;
}

export interface Member extends UserRef {
  role: Role;
  joinedAt: Date;
}

export interface GroupView {
  groupId: string;
  name: string;
  ownerId: string;
  createdAt: Date;
  /** In the order they joined. */
  members: Member[];
}

/** What the rules need to know about a group to decide one membership change. */
export interface MembershipFacts {
  memberCount: number;
  /** The caller's role; undefined when the caller is not a member. */
  actorRole: Role | undefined;
  /** The target's role; undefined when the target is not a member (or not a user at all). */
  targetRole: Role | undefined;
}

/** The user a change is about, as named in the request; no userId when no such user exists. */
export interface Target {
  username: string;
  userId: string | undefined;
}

export type MemberChange =
  | { kind: "add"; member: UserRef & { role: Role } }
  | { kind: "remove"; userId: string }
  | { kind: "set_role"; userId: string; role: Role }
  /** Already so: the request succeeds and nothing changes (no event). */
  | { kind: "none" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether `value` can be a group id. A malformed id names no group, so callers answer it the
 * way they answer an unknown one (not_found / group_exists=false) rather than invalid_argument.
 */
export function isGroupId(value: string): boolean {
  return UUID.test(value);
}

/** Auth case-folds usernames; compare and look them up the same way. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

// Control characters (including newlines) have no place in a name shown in every client's list.
const CONTROL = /\p{Cc}/u;

/** The trimmed name, or invalid_argument. Length is counted in characters, not UTF-16 units. */
export function validateGroupName(raw: string, maxLength: number): string {
  const name = raw.trim();
  const length = [...name].length;
  if (length === 0) throw invalidArgument("name must not be empty");
  if (length > maxLength) throw invalidArgument(`name must be at most ${maxLength} characters`);
  if (CONTROL.test(name)) throw invalidArgument("name must not contain control characters");
  return name;
}

/**
 * The usernames a new group's creator asked for, normalised, without duplicates and without the
 * creator, checked against the size limit before anyone is looked up.
 */
export function initialUsernames(creator: UserRef, requested: string[], maxMembers: number): string[] {
  const self = normalizeUsername(creator.username);
  const names = new Set<string>();
  for (const raw of requested) {
    const name = normalizeUsername(raw);
    if (name === "") throw invalidArgument("member usernames must not be empty");
    if (name !== self) names.add(name);
  }
  if (names.size + 1 > maxMembers) throw groupFull(maxMembers);
  return [...names];
}

/**
 * The initial members (creator first, as owner) once the directory has answered; every
 * requested username must exist.
 */
export function initialMembers(
  creator: UserRef,
  usernames: string[],
  found: UserRef[],
  maxMembers: number,
): (UserRef & { role: Role })[] {
  const byName = new Map(found.map((user) => [normalizeUsername(user.username), user]));
  const missing = usernames.filter((name) => !byName.has(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).map((name) => `"${name}"`);
    const more = missing.length > shown.length ? ` and ${missing.length - shown.length} more` : "";
    throw notFound(`unknown user${missing.length > 1 ? "s" : ""}: ${shown.join(", ")}${more}`);
  }
  const members = new Map<string, UserRef & { role: Role }>([
    [creator.userId, { ...creator, role: "owner" }],
  ]);
  for (const name of usernames) {
    const user = byName.get(name) as UserRef;
    if (!members.has(user.userId)) members.set(user.userId, { ...user, role: "member" });
  }
  if (members.size > maxMembers) throw groupFull(maxMembers);
  return [...members.values()];
}

/** Only current members may see a group. */
export function assertCanRead(group: GroupView, userId: string): void {
  if (!group.members.some((member) => member.userId === userId)) {
    throw permissionDenied("you are not a member of this group");
  }
}

/** The roles a request may ask for: nobody is added as, or made, owner. */
export function assertAssignable(role: Role): void {
  if (role === "owner") throw invalidArgument("role must be member or admin");
}

export function decideAdd(
  facts: MembershipFacts,
  target: Target,
  role: Role,
  maxMembers: number,
): MemberChange {
  assertAssignable(role);
  if (facts.actorRole === undefined) throw permissionDenied("you are not a member of this group");
  if (facts.actorRole === "member") throw permissionDenied("only the owner and admins may add members");
  if (role === "admin" && facts.actorRole !== "owner") {
    throw permissionDenied("only the owner may add admins");
  }
  if (target.userId === undefined) throw notFound(`unknown user: "${target.username}"`);
  // Idempotent: adding a member again succeeds and changes nothing, whatever role is asked for
  // (SetMemberRole changes roles).
  if (facts.targetRole !== undefined) return { kind: "none" };
  if (facts.memberCount >= maxMembers) throw groupFull(maxMembers);
  return { kind: "add", member: { userId: target.userId, username: target.username, role } };
}

export function decideRemove(facts: MembershipFacts, actorId: string, target: Target): MemberChange {
  if (facts.actorRole === undefined) throw permissionDenied("you are not a member of this group");
  if (target.userId === actorId) {
    if (facts.actorRole === "owner") {
      throw new DomainError("failed_precondition", "the owner cannot leave the group");
    }
    return { kind: "remove", userId: actorId };
  }
  if (facts.actorRole === "member") throw permissionDenied("members may only remove themselves");
  if (target.userId === undefined || facts.targetRole === undefined) {
    throw notFound(`"${target.username}" is not a member of this group`);
  }
  if (facts.actorRole === "admin" && facts.targetRole !== "member") {
    throw permissionDenied("admins may remove only plain members");
  }
  return { kind: "remove", userId: target.userId };
}

export function decideSetRole(facts: MembershipFacts, target: Target, role: Role): MemberChange {
  assertAssignable(role);
  if (facts.actorRole === undefined) throw permissionDenied("you are not a member of this group");
  if (facts.actorRole !== "owner") throw permissionDenied("only the owner may change roles");
  if (target.userId === undefined || facts.targetRole === undefined) {
    throw notFound(`"${target.username}" is not a member of this group`);
  }
  if (facts.targetRole === "owner") {
    throw new DomainError("failed_precondition", "the owner's role cannot change");
  }
  if (facts.targetRole === role) return { kind: "none" };
  return { kind: "set_role", userId: target.userId, role };
}

/** Whether a rename changes anything; only the owner and admins may rename. */
export function decideRename(facts: { actorRole: Role | undefined; name: string }, name: string): boolean {
  if (facts.actorRole === undefined) throw permissionDenied("you are not a member of this group");
  if (facts.actorRole === "member") throw permissionDenied("only the owner and admins may rename the group");
  return facts.name !== name;
}

function groupFull(maxMembers: number): DomainError {
  return new DomainError("failed_precondition", `a group may have at most ${maxMembers} members`);
}
