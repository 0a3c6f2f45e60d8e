import { toJson } from "@bufbuild/protobuf";
import { type Event, EventSchema } from "../../gen/es/parley/v1/events_pb.js";
import type { StreamItem } from "./hub.js";

/** JSON of pushed events without their cursor, made on first use, gone with the event. */
const bodies = new WeakMap<Event, string>();

/**
 * An event as the JSON text the WebSocket and SSE transports write. An event pushed to many
 * streams (a group message to 1,000 members) is encoded once; each stream splices in its cursor.
 */
export function eventJsonText(item: StreamItem): string {
  if (!item.shared) return JSON.stringify(toJson(EventSchema, item.event));
  let body = bodies.get(item.shared);
  if (body === undefined) {
    body = JSON.stringify(toJson(EventSchema, { ...item.shared, cursor: "" }));
    bodies.set(item.shared, body);
  }
  // An empty cursor is not written (proto3 JSON omits defaults), so the body has none to replace.
  if (!item.event.cursor) return body;
  const cursor = `"cursor":${JSON.stringify(item.event.cursor)}`;
  return body === "{}" ? `{${cursor}}` : `{${cursor},${body.slice(1)}`;
}
