import { UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";

/**
 * The most a single PushRequest carries, well under the gateway push server's 16 MiB receive
 * limit: a group event listing 1,000 members, fanned out to those 1,000 members, is ~38 MB.
 */
export const PUSH_REQUEST_BUDGET_BYTES = 4 * 1024 * 1024;

/** Splits events, in order, into runs whose encoded size stays within the budget (one event may exceed it alone). */
export function chunkBySize(events: UserEvent[], budgetBytes = PUSH_REQUEST_BUDGET_BYTES): UserEvent[][] {
  const chunks: UserEvent[][] = [];
  let current: UserEvent[] = [];
  let size = 0;
  for (const event of events) {
    // +6: the repeated field's tag and length prefix around each event.
    const eventSize = UserEvent.encode(event).finish().length + 6;
    if (current.length > 0 && size + eventSize > budgetBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(event);
    size += eventSize;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
