import { z } from "zod";
import { defineConfig } from "../kit/config.js";

export const presenceConfig = defineConfig({
  defaultTtlSeconds: {
    env: "PARLEY_PRESENCE_DEFAULT_TTL_SECONDS",
    schema: z.coerce.number().int().min(1).max(3600).default(60),
    help: "TTL of a node announcement or stream entry when the gateway asks for none.",
  },
  maxTtlSeconds: {
    env: "PARLEY_PRESENCE_MAX_TTL_SECONDS",
    schema: z.coerce.number().int().min(1).max(3600).default(600),
    help: "Longest TTL a gateway may ask for: bounds how long a dead node's streams stay listed.",
  },
  ticketTtlSeconds: {
    env: "PARLEY_PRESENCE_TICKET_TTL_SECONDS",
    schema: z.coerce.number().int().min(1).max(300).default(30),
    help: "How long a stream ticket (WebSocket/SSE sign-in) stays redeemable, when the caller asks for none.",
  },
});

export type PresenceConfig = ReturnType<typeof presenceConfig.load>;
