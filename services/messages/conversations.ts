/**
 * Conversation ids: the log key and history partition of a conversation. A direct conversation
 * is the same for both participants whoever writes first, so its id orders the two user ids.
 */
export type Conversation =
  | { kind: "direct"; id: string; userIds: [string, string] }
  | { kind: "group"; id: string; groupId: string };

// Ids never contain the separator, so an id parses back unambiguously.
const PART = /^[^:\s]+$/;

export function directConversationId(userA: string, userB: string): string {
  for (const id of [userA, userB]) if (!PART.test(id)) throw new Error(`not a valid user id: ${id}`);
  return userA < userB ? `d:${userA}:${userB}` : `d:${userB}:${userA}`;
}

export function groupConversationId(groupId: string): string {
  if (!PART.test(groupId)) throw new Error(`not a valid group id: ${groupId}`);
  return `g:${groupId}`;
}

/** The conversation an id names, or undefined when it is not a well-formed id. */
export function parseConversationId(id: string): Conversation | undefined {
  const parts = id.split(":");
  if (parts[0] === "d" && parts.length === 3) {
    const [, a, b] = parts as [string, string, string];
    if (PART.test(a) && PART.test(b) && a <= b) return { kind: "direct", id, userIds: [a, b] };
  }
  if (parts[0] === "g" && parts.length === 2 && PART.test(parts[1] as string)) {
    return { kind: "group", id, groupId: parts[1] as string };
  }
  return undefined;
}
