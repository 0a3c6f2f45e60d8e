import { describe, expect, it } from "vitest";
import { PushRequest, type UserEvent } from "../gen/grpc/parley/internal/v1/delivery.js";
import type { Event } from "../gen/grpc/parley/v1/events.js";
import { pushRequests } from "./push-requests.js";

const entry = (userId: string, event: Event | undefined, padding = ""): UserEvent => ({
  userId,
  seq: "1",
  event,
  appendedAt: new Date(),
  traceContext: padding
    ? { padding }
    : { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  shared: 0,
});
/** An event of about `bytes` bytes (a typing event with a long username). */
const message = (id: string, bytes = 200): Event => ({
  cursor: "",
  eventId: id,
  occurredAt: new Date(),
  typing: {
    conversationId: "c",
    userId: id,
    username: "x".repeat(bytes),
    typing: true,
    expiresAt: undefined,
  },
});
const size = (request: PushRequest) => PushRequest.encode(request).finish().length;

/** What the node sees: each entry with its event, as the gateway resolves them. */
const resolved = (requests: PushRequest[]) =>
  requests.flatMap((r) =>
    r.events.map((e) => ({ userId: e.userId, eventId: (e.event ?? r.shared[e.shared - 1])?.eventId })),
  );

describe("a push as requests", () => {
  it("whole events: keeps every entry, in order, with no request over the budget", () => {
    const events = Array.from({ length: 100 }, (_, i) =>
      entry(`u${i}`, undefined, "x".repeat(1000 + i * 37)),
    );
    const requests = pushRequests(events, { shared: false, budgetBytes: 20_000 });
    expect(requests.flatMap((r) => r.events)).toEqual(events);
    expect(requests.length).toBeGreaterThan(5);
    for (const request of requests) {
      expect(request.shared).toEqual([]);
      expect(size(request)).toBeLessThanOrEqual(20_000);
    }
  });

  it("whole events: an event larger than the budget goes on its own, a small push as one request", () => {
    const big = entry("big", undefined, "x".repeat(50_000));
    const small = entry("small", undefined, "y");
    const batches = (events: UserEvent[], budgetBytes?: number) =>
      pushRequests(events, { shared: false, budgetBytes }).map((r) => r.events);
    expect(batches([small, big, small], 20_000)).toEqual([[small], [big], [small]]);
    expect(batches([small, small])).toEqual([[small, small]]);
    expect(pushRequests([], { shared: false })).toEqual([]);
  });

  it("shared: one copy of an event however many entries carry it, the trace context on the first entry", () => {
    const groupMessage = message("m1");
    const typing = message("t1", 10);
    const events = [
      ...Array.from({ length: 1000 }, (_, i) => entry(`u${i}`, groupMessage)),
      entry("u0", typing),
      entry("u1", typing),
    ];
    const [request, ...more] = pushRequests(events, { shared: true });
    expect(more).toEqual([]);
    expect(request?.shared).toEqual([groupMessage, typing]);
    expect(request?.events.map((e) => e.event)).toEqual(events.map(() => undefined));
    expect(request?.events.map((e) => e.shared)).toEqual([...events.slice(0, 1000).map(() => 1), 2, 2]);
    expect(request?.events[0]?.traceContext).toEqual(events[0]?.traceContext);
    expect(request?.events.slice(1).every((e) => Object.keys(e.traceContext).length === 0)).toBe(true);
    expect(resolved([request as PushRequest])).toEqual(
      events.map((e) => ({ userId: e.userId, eventId: e.event?.eventId })),
    );
    // 1,000 copies would be ~250 KB.
    expect(size(request as PushRequest)).toBeLessThan(70_000);
  });

  it("shared: splits within the budget, each request carrying the events its entries name", () => {
    const events = Array.from({ length: 300 }, (_, i) => entry(`u${i}`, message(`m${i % 7}`, 3000)));
    const requests = pushRequests(events, { shared: true, budgetBytes: 20_000 });
    expect(requests.length).toBeGreaterThan(5);
    expect(resolved(requests)).toEqual(events.map((e) => ({ userId: e.userId, eventId: e.event?.eventId })));
    for (const request of requests) {
      expect(size(request)).toBeLessThanOrEqual(20_000);
      expect(request.events[0]?.traceContext).toEqual(events[0]?.traceContext);
      expect(new Set(request.shared).size).toBe(request.shared.length);
    }
    // An event larger than the budget still goes, alone.
    const big = pushRequests([entry("a", message("m1")), entry("b", message("big", 50_000))], {
      shared: true,
      budgetBytes: 20_000,
    });
    expect(big.map((r) => r.shared.map((e) => e.eventId))).toEqual([["m1"], ["big"]]);
  });
});
