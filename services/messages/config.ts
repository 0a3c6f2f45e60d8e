import { z } from "zod";
import { defineConfig, seconds } from "../kit/config.js";

const positiveInt = () => z.coerce.number().int().positive();

export const messagesConfig = defineConfig({
  maxContentBytes: {
    env: "PARLEY_MESSAGES_MAX_CONTENT_BYTES",
    schema: positiveInt().default(64 * 1024),
    help: "Largest message content accepted, in UTF-8 bytes.",
  },
  sendLimit: {
    env: "PARLEY_MESSAGES_SEND_LIMIT",
    schema: positiveInt().default(100),
    help: "Sends allowed per user per send window.",
  },
  sendWindowSeconds: {
    env: "PARLEY_MESSAGES_SEND_WINDOW_SECONDS",
    schema: seconds().default(10),
    help: "Length of the per-user send rate-limit window.",
  },
  dataKeyCacheSeconds: {
    env: "PARLEY_MESSAGES_DATA_KEY_CACHE_SECONDS",
    schema: seconds().default(300),
    help: "How long an unwrapped conversation data key stays in memory before crypto is asked again.",
  },
  directoryCacheSeconds: {
    env: "PARLEY_MESSAGES_DIRECTORY_CACHE_SECONDS",
    schema: seconds().default(60),
    help: "How long a resolved username (recipient lookups, usernames on reads) stays cached.",
  },
});

export type MessagesConfig = ReturnType<typeof messagesConfig.load>;

/** Page sizes of the history reads. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
export const MAX_CLIENT_MESSAGE_ID_LENGTH = 128;
