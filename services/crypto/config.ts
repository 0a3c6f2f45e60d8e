import { z } from "zod";
import { defineConfig } from "../kit/config.js";

export const cryptoConfig = defineConfig({
  kek: {
    env: "PARLEY_CRYPTO_KEK",
    schema: z
      .string()
      .refine((v) => Buffer.from(v, "base64").length === 32, "must be 32 bytes, base64-encoded")
      .optional(),
    help: "Key-encryption key (base64, 32 bytes). Unset: generated once into <data>/crypto/kek (mode 0600).",
  },
  maxMessageBytes: {
    env: "PARLEY_CRYPTO_MAX_MESSAGE_BYTES",
    schema: z.coerce
      .number()
      .int()
      .positive()
      .default(64 * 1024),
    help: "Largest plaintext /encrypt accepts.",
  },
});

export type CryptoConfig = ReturnType<typeof cryptoConfig.load>;
