import { type PushRequest, UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import { Event } from "../gen/grpc/parley/v1/events.js";

/**
 * The most a single PushRequest carries, well under the gateway push server's 16 MiB receive
 * limit (a group event listing 1,000 members, sent whole to each of them, is ~38 MB).
 */
export const PUSH_REQUEST_BUDGET_BYTES = 4 * 1024 * 1024;

/** A repeated field's tag and length prefix around each element, at their widest. */
const FRAMING = 6;

/**
 * A push as PushRequests, in order, each within the budget (one event may exceed it alone).
 * `shared` (the node reads PushRequest.shared): each distinct event object goes once per request
 * and its entries name it, so a group message to 1,000 members is encoded once, not 1,000 times.
 * Else every entry carries its event whole. Only the first entry of a shared request keeps the
 * trace context: the node continues the trace from the first entry, and the others' are the same.
 */
export function pushRequests(
  events: UserEvent[],
  options: { shared: boolean; budgetBytes?: number },
): PushRequest[] {
  const budget = options.budgetBytes ?? PUSH_REQUEST_BUDGET_BYTES;
  const requests: PushRequest[] = [];
  let current: PushRequest = { events: [], shared: [] };
  let index = new Map<Event, number>();
  let size = 0;
  const eventSizes = new Map<Event, number>();
  for (const entry of events) {
    const shared = options.shared ? entry.event : undefined;
    let cost: number;
    if (!shared) cost = UserEvent.encode(entry).finish().length + FRAMING;
    else {
      let eventSize = eventSizes.get(shared);
      if (eventSize === undefined) {
        eventSize = Event.encode(shared).finish().length + FRAMING;
        eventSizes.set(shared, eventSize);
      }
      cost = referenceBound(entry) + (index.has(shared) ? 0 : eventSize);
    }
    if (current.events.length > 0 && size + cost > budget) {
      requests.push(current);
      current = { events: [], shared: [] };
      index = new Map();
      size = 0;
      // The event is not in the new request yet.
      if (shared) cost = referenceBound(entry) + (eventSizes.get(shared) ?? 0);
    }
    size += cost;
    if (!shared) {
      current.events.push(entry);
      continue;
    }
    let at = index.get(shared);
    if (at === undefined) {
      at = current.shared.push(shared) - 1;
      index.set(shared, at);
    }
    current.events.push({
      ...entry,
      event: undefined,
      shared: at + 1,
      traceContext: current.events.length === 0 ? entry.traceContext : {},
    });
  }
  if (current.events.length > 0) requests.push(current);
  return requests;
}

/**
 * An upper bound of the encoded size of an entry that names its event (user_id, seq, appended_at,
 * shared and the trace context, each tag, length and varint at its widest), without encoding it.
 */
function referenceBound(entry: UserEvent): number {
  let bytes = 40 + Buffer.byteLength(entry.userId);
  for (const [key, value] of Object.entries(entry.traceContext)) {
    bytes += 12 + Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  return bytes + FRAMING;
}
