import { type Algorithm, hash, type Options, verify } from "@node-rs/argon2";

/** argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane): ~36 ms per hash here. */
export const PASSWORD_HASH_OPTIONS: Options = {
  // Algorithm.Argon2id; the enum is an ambient const enum that isolatedModules cannot inline.
  algorithm: 2 as Algorithm,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/**
 * Verified against when the username is unknown, so that costs the same as a wrong password
 * and timing does not tell which usernames exist. Same parameters as PASSWORD_HASH_OPTIONS;
 * the password behind it was random and thrown away.
 */
export const DUMMY_HASH =
  "$argon2id$v=19$m=19456,t=2,p=1$MrW64S2OJI9cvV1r53Yz2Q$kyvZWVctbzNu8CwkhkRvp44Xb+RZToNtgPxEKC1cT1w";

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_OPTIONS);
}

/** False for a wrong password and for a missing hash (unknown user), after the same work. */
export async function verifyPassword(passwordHash: string | undefined, password: string): Promise<boolean> {
  const matches = await verify(passwordHash ?? DUMMY_HASH, password).catch(() => false);
  return passwordHash !== undefined && matches;
}
