import { v7 as uuidv7 } from "uuid";
import { type DomainError, invalidArgument, notFound } from "../kit/errors.js";
import type { MessageLog } from "../kit/log/log.js";
import type { Logger } from "../kit/logger.js";
import type { GroupsConfig } from "./config.js";
import type { UserDirectory } from "./directory.js";
import { changeOf, publishGroupEvent } from "./events.js";
import {
  assertCanRead,
  decideAdd,
  decideRemove,
  decideRename,
  decideSetRole,
  type GroupView,
  initialMembers,
  initialUsernames,
  isGroupId,
  type MemberChange,
  type MembershipFacts,
  normalizeUsername,
  type Role,
  type Target,
  type UserRef,
  validateGroupName,
} from "./membership.js";
import type { GroupStore, MembershipCheck } from "./store.js";

export interface GroupsDependencies {
  store: GroupStore;
  directory: UserDirectory;
  log: MessageLog;
  config: GroupsConfig;
  logger: Logger;
  now?: () => Date;
}

/** What groups does: the rules of membership.ts applied to the store, with events published. */
export function createGroups(deps: GroupsDependencies) {
  const { store, directory, config } = deps;
  const now = deps.now ?? (() => new Date());

  async function publish(event: Parameters<typeof publishGroupEvent>[1]): Promise<void> {
    try {
      await publishGroupEvent(deps.log, event);
    } catch (err) {
      // The change is committed and the caller is told so; failing the call now would only make
      // a retry succeed as a no-op, with the event lost all the same.
      deps.logger.error({ err, groupId: event.groupId }, "group event not published");
    }
  }

  /** The user a request names; resolving oneself needs no call to auth. */
  async function resolveTarget(actor: UserRef, username: string): Promise<Target> {
    const name = normalizeUsername(username);
    if (name === "") throw invalidArgument("username is required");
    if (name === normalizeUsername(actor.username)) return { username: name, userId: actor.userId };
    const [user] = (await directory.resolveUsernames([name])).filter(
      (found) => normalizeUsername(found.username) === name,
    );
    return user ? { username: user.username, userId: user.userId } : { username: name, userId: undefined };
  }

  async function change(
    actor: UserRef,
    groupId: string,
    username: string,
    decide: (facts: MembershipFacts, target: Target) => MemberChange,
  ): Promise<GroupView> {
    if (!isGroupId(groupId)) throw groupNotFound();
    const target = await resolveTarget(actor, username);
    const at = now();
    const result = await store.change(
      groupId,
      { actorId: actor.userId, targetId: target.userId },
      (facts) => decide(facts, target),
      at,
    );
    if (!result) throw groupNotFound();
    const body = changeOf(result.change);
    if (body) await publish({ groupId, actorId: actor.userId, occurredAt: at, ...body });
    return result.group;
  }

  return {
    async create(actor: UserRef, rawName: string, usernames: string[]): Promise<GroupView> {
      const name = validateGroupName(rawName, config.maxNameLength);
      const wanted = initialUsernames(actor, usernames, config.maxMembers);
      const found = await directory.resolveUsernames(wanted);
      const members = initialMembers(actor, wanted, found, config.maxMembers);
      const createdAt = now();
      const group = await store.create({
        groupId: uuidv7(),
        name,
        ownerId: actor.userId,
        createdAt,
        members,
      });
      await publish({
        groupId: group.groupId,
        actorId: actor.userId,
        occurredAt: createdAt,
        created: { name, memberIds: members.map((member) => member.userId) },
      });
      return group;
    },

    async get(actor: UserRef, groupId: string): Promise<GroupView> {
      const group = isGroupId(groupId) ? await store.get(groupId) : undefined;
      if (!group) throw groupNotFound();
      assertCanRead(group, actor.userId);
      return group;
    },

    listMine(actor: UserRef): Promise<GroupView[]> {
      return store.listForMember(actor.userId);
    },

    addMember(actor: UserRef, groupId: string, username: string, role: Role): Promise<GroupView> {
      return change(actor, groupId, username, (facts, target) =>
        decideAdd(facts, target, role, config.maxMembers),
      );
    },

    removeMember(actor: UserRef, groupId: string, username: string): Promise<GroupView> {
      return change(actor, groupId, username, (facts, target) => decideRemove(facts, actor.userId, target));
    },

    setMemberRole(actor: UserRef, groupId: string, username: string, role: Role): Promise<GroupView> {
      return change(actor, groupId, username, (facts, target) => decideSetRole(facts, target, role));
    },

    async rename(actor: UserRef, groupId: string, rawName: string): Promise<GroupView> {
      const name = validateGroupName(rawName, config.maxNameLength);
      if (!isGroupId(groupId)) throw groupNotFound();
      const at = now();
      const result = await store.rename(groupId, actor.userId, (facts) => decideRename(facts, name), name);
      if (!result) throw groupNotFound();
      if (result.renamed)
        await publish({ groupId, actorId: actor.userId, occurredAt: at, renamed: { name } });
      return result.group;
    },

    async listMembers(groupId: string): Promise<{ userId: string; joinedAt: Date }[] | undefined> {
      return store.listMembers(groupId);
    },

    async listCoMembers(userId: string, maxGroupMembers = 0): Promise<string[]> {
      if (userId === "") throw invalidArgument("user_id is required");
      return store.listCoMembers(userId, maxGroupMembers);
    },

    checkMembership(groupId: string, userId: string): Promise<MembershipCheck> {
      if (userId === "") throw invalidArgument("user_id is required");
      return store.checkMembership(groupId, userId);
    },
  };
}

export type Groups = ReturnType<typeof createGroups>;

function groupNotFound(): DomainError {
  return notFound("group not found");
}
