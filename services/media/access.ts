import { invalidArgument, notFound, permissionDenied } from "../kit/errors.js";
import { directConversationId, groupConversationId, parseConversationId } from "../messages/conversations.js";
import { type MembershipCheck, requireMember } from "../messages/participants.js";

/** What media asks other services (auth's directory, groups' membership) over gRPC. */
export interface AccessDeps {
  /** The user id of a username, or undefined when there is none. */
  userIdOf(username: string): Promise<string | undefined>;
  membership: MembershipCheck;
}

export type ConversationTarget = { recipientUsername: string } | { groupId: string };

/**
 * Who may upload to and download from a conversation: the same rule messages applies to sends
 * and reads. Anyone may write to an existing user; only current members to a group (asked of
 * groups every time, never cached, so a removed member loses access at once).
 */
export class ConversationAccess {
  constructor(private readonly deps: AccessDeps) {}

  /** The id of the conversation the caller may write to, or a refusal. */
  async writable(callerId: string, target: ConversationTarget): Promise<string> {
    if ("groupId" in target) {
      await requireMember(this.deps.membership, target.groupId, callerId);
      return groupConversationId(target.groupId);
    }
    const username = target.recipientUsername.trim();
    if (!username) throw invalidArgument("recipient_username or group_id is required");
    const recipientId = username.length > 256 ? undefined : await this.deps.userIdOf(username);
    if (!recipientId) throw notFound("unknown recipient");
    return directConversationId(callerId, recipientId);
  }

  /** Throws unless the caller takes part in the conversation now. */
  async requireParticipant(callerId: string, conversationId: string): Promise<void> {
    const conversation = parseConversationId(conversationId);
    if (!conversation) throw permissionDenied("not a participant of this conversation");
    if (conversation.kind === "group") {
      const { groupExists, isMember } = await this.deps.membership.check(conversation.groupId, callerId);
      if (!groupExists || !isMember) throw permissionDenied("not a member of this group");
      return;
    }
    if (!conversation.userIds.includes(callerId))
      throw permissionDenied("not a participant of this conversation");
  }
}
