import type {
  CheckMembershipRequest,
  CheckMembershipResponse,
  ListCoMembersRequest,
  ListCoMembersResponse,
  ListMembersRequest,
  ListMembersResponse,
} from "../gen/grpc/parley/internal/v1/membership.js";
import {
  type AddMemberRequest,
  type AddMemberResponse,
  type CreateGroupRequest,
  type CreateGroupResponse,
  type GetGroupRequest,
  type GetGroupResponse,
  type Group,
  GroupRole,
  type ListMyGroupsResponse,
  type RemoveMemberRequest,
  type RemoveMemberResponse,
  type RenameGroupRequest,
  type RenameGroupResponse,
  type SetMemberRoleRequest,
  type SetMemberRoleResponse,
} from "../gen/grpc/parley/v1/groups.js";
import { invalidArgument, unauthenticated } from "../kit/errors.js";
import type { CallContext } from "../kit/grpc/server.js";
import type { Groups } from "./groups.js";
import type { GroupView, Role, UserRef } from "./membership.js";

/** parley.v1.GroupService: every method acts as the verified caller. */
export function groupHandlers(groups: Groups) {
  return {
    async createGroup(request: CreateGroupRequest, ctx: CallContext): Promise<CreateGroupResponse> {
      return { group: toProto(await groups.create(actorOf(ctx), request.name, request.memberUsernames)) };
    },
    async getGroup(request: GetGroupRequest, ctx: CallContext): Promise<GetGroupResponse> {
      return { group: toProto(await groups.get(actorOf(ctx), request.groupId)) };
    },
    async listMyGroups(_request: unknown, ctx: CallContext): Promise<ListMyGroupsResponse> {
      return { groups: (await groups.listMine(actorOf(ctx))).map(toProto) };
    },
    async addMember(request: AddMemberRequest, ctx: CallContext): Promise<AddMemberResponse> {
      const role = request.role === GroupRole.GROUP_ROLE_UNSPECIFIED ? "member" : roleOf(request.role);
      return {
        group: toProto(await groups.addMember(actorOf(ctx), request.groupId, request.username, role)),
      };
    },
    async removeMember(request: RemoveMemberRequest, ctx: CallContext): Promise<RemoveMemberResponse> {
      return { group: toProto(await groups.removeMember(actorOf(ctx), request.groupId, request.username)) };
    },
    async setMemberRole(request: SetMemberRoleRequest, ctx: CallContext): Promise<SetMemberRoleResponse> {
      const role = roleOf(request.role);
      return {
        group: toProto(await groups.setMemberRole(actorOf(ctx), request.groupId, request.username, role)),
      };
    },
    async renameGroup(request: RenameGroupRequest, ctx: CallContext): Promise<RenameGroupResponse> {
      return { group: toProto(await groups.rename(actorOf(ctx), request.groupId, request.name)) };
    },
  };
}

/** parley.internal.v1.MembershipService: asked by messages on every group send and read. */
export function membershipHandlers(groups: Groups) {
  return {
    async checkMembership(request: CheckMembershipRequest): Promise<CheckMembershipResponse> {
      return groups.checkMembership(request.groupId, request.userId);
    },
    /** Asked by delivery for every group message it fans out (never cached across batches). */
    async listMembers(request: ListMembersRequest): Promise<ListMembersResponse> {
      const members = await groups.listMembers(request.groupId);
      return { groupExists: members !== undefined, members: members ?? [] };
    },
    async listCoMembers(request: ListCoMembersRequest): Promise<ListCoMembersResponse> {
      return { userIds: await groups.listCoMembers(request.userId, request.maxGroupMembers) };
    },
  };
}

function actorOf(ctx: CallContext): UserRef {
  if (!ctx.principal) throw unauthenticated();
  return { userId: ctx.principal.userId, username: ctx.principal.username };
}

const ROLES = new Map<GroupRole, Role>([
  [GroupRole.GROUP_ROLE_MEMBER, "member"],
  [GroupRole.GROUP_ROLE_ADMIN, "admin"],
  [GroupRole.GROUP_ROLE_OWNER, "owner"],
]);

function roleOf(role: GroupRole): Role {
  const known = ROLES.get(role);
  if (!known) throw invalidArgument("role must be member or admin");
  return known;
}

const PROTO_ROLES: Record<Role, GroupRole> = {
  member: GroupRole.GROUP_ROLE_MEMBER,
  admin: GroupRole.GROUP_ROLE_ADMIN,
  owner: GroupRole.GROUP_ROLE_OWNER,
};

export function toProto(group: GroupView): Group {
  return {
    groupId: group.groupId,
    name: group.name,
    ownerId: group.ownerId,
    createdAt: group.createdAt,
    members: group.members.map((member) => ({
      userId: member.userId,
      username: member.username,
      role: PROTO_ROLES[member.role],
      joinedAt: member.joinedAt,
    })),
  };
}
