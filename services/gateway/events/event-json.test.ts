import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { type Event, EventSchema } from "../../gen/es/parley/v1/events_pb.js";
import { eventJsonText } from "./event-json.js";

const pushed = (): Event =>
  create(EventSchema, {
    eventId: "0193a0b0-0000-7000-8000-000000000001",
    occurredAt: timestampFromDate(new Date("2026-11-26T10:00:00Z")),
    kind: {
      case: "message",
      value: {
        message: {
          messageId: "0193a0b0-0000-7000-8000-000000000001",
          conversationId: "g:group",
          senderUsername: 'äda "the" sender',
          content: "hello\nworld",
        },
      },
    },
  });

describe("events as JSON text", () => {
  it("writes a shared event as its own JSON with each stream's cursor", () => {
    const event = pushed();
    for (const cursor of ["alice.1", 'bob."42"', ""]) {
      const copy = { ...event, cursor };
      expect(JSON.parse(eventJsonText({ event: copy, seq: 1n, shared: event }))).toEqual(
        toJson(EventSchema, copy),
      );
    }
    const unshared = { ...pushed(), cursor: "carol.7" };
    expect(JSON.parse(eventJsonText({ event: unshared, seq: 7n }))).toEqual(toJson(EventSchema, unshared));
  });

  it("encodes a shared event once, however many streams write it", () => {
    const event = pushed();
    const first = eventJsonText({ event: { ...event, cursor: "a.1" }, seq: 1n, shared: event });
    // Pushed events are never changed; if the body were encoded again, this change would show.
    event.eventId = "changed";
    const second = eventJsonText({ event: { ...event, cursor: "b.1" }, seq: 1n, shared: event });
    expect(JSON.parse(second).eventId).toBe(JSON.parse(first).eventId);
    expect(JSON.parse(second).cursor).toBe("b.1");
  });
});
