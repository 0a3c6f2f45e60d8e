import { z } from "zod";
import { defineConfig, seconds } from "../kit/config.js";

const count = () => z.coerce.number().int().positive();

export const authConfig = defineConfig({
  accessTokenTtlSeconds: {
    env: "PARLEY_AUTH_ACCESS_TOKEN_TTL_SECONDS",
    schema: seconds().default(900),
    help: "Lifetime of an access token (JWT).",
  },
  refreshTokenTtlSeconds: {
    env: "PARLEY_AUTH_REFRESH_TOKEN_TTL_SECONDS",
    // Tokens carry it as an int32 number of seconds.
    schema: seconds()
      .max(2 ** 31 - 1)
      .default(30 * 24 * 3600),
    help: "Lifetime of a refresh token; each refresh issues a new one with a fresh lifetime.",
  },
  signingKeyRotationSeconds: {
    env: "PARLEY_AUTH_SIGNING_KEY_ROTATION_SECONDS",
    schema: seconds().default(86_400),
    help: "How often a new signing key replaces the current one (old keys stay published until their tokens expire).",
  },
  signingKeySecret: {
    env: "PARLEY_AUTH_SIGNING_KEY_SECRET",
    schema: z
      .string()
      .refine((v) => Buffer.from(v, "base64").length === 32, "must be 32 bytes, base64-encoded")
      .optional(),
    help: "Encrypts the stored signing keys (base64, 32 bytes). Unset: generated once into <data>/auth-signing-secret (mode 0600).",
  },
  loginLimitPerUsername: {
    env: "PARLEY_AUTH_LOGIN_LIMIT_PER_USERNAME",
    schema: count().default(10),
    help: "Login attempts allowed per username per window.",
  },
  loginLimitPerAddress: {
    env: "PARLEY_AUTH_LOGIN_LIMIT_PER_ADDRESS",
    schema: count().default(30),
    help: "Login attempts allowed per client address per window.",
  },
  loginLimitWindowSeconds: {
    env: "PARLEY_AUTH_LOGIN_LIMIT_WINDOW_SECONDS",
    schema: seconds().default(60),
    help: "Length of the login rate-limit window.",
  },
});

export type AuthConfig = ReturnType<typeof authConfig.load>;
