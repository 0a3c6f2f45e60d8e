import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from "jose";
import { NONCE_BYTES, open, seal } from "../kit/aead.js";
import type { Logger } from "../kit/logger.js";
import type { AuthStore, SigningKeyRecord } from "./store.js";

/** One published public key (RFC 7517, OKP Ed25519), as the JWKS carries it. */
export interface PublicJwk {
  kid: string;
  kty: string;
  crv: string;
  x: string;
  alg: string;
  use: string;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export interface SigningKeysOptions {
  rotationSeconds: number;
  accessTokenTtlSeconds: number;
  /**
   * How often the keys are re-read and rotation checked. Another replica may keep signing with
   * a key for up to this long after it was retired, so retired keys stay published this much longer.
   */
  reloadSeconds?: number;
  now?: () => number;
  logger?: Logger;
}

const aad = (kid: string) => Buffer.from(`parley.auth.signing-key:${kid}`);

/**
 * Ed25519 signing keys, stored with the private half sealed by `secret`. The newest key signs;
 * a new one replaces it every `rotationSeconds`; retired keys stay in the JWKS until every token
 * they signed has expired.
 */
export class SigningKeys {
  private active: SigningKey | undefined;
  private timer: NodeJS.Timeout | undefined;
  private maintaining: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly reloadSeconds: number;

  constructor(
    private readonly store: AuthStore,
    private readonly secret: Buffer,
    private readonly options: SigningKeysOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.reloadSeconds = options.reloadSeconds ?? Math.min(60, options.rotationSeconds);
  }

  /** Loads the keys (rotating if due) and re-checks every reload interval until stop(). */
  async start(): Promise<void> {
    await this.maintain();
    this.timer = setInterval(() => {
      this.maintain().catch((err: unknown) =>
        this.options.logger?.error({ err }, "signing key maintenance failed"),
      );
    }, this.reloadSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The key new tokens are signed with. */
  signer(): SigningKey {
    if (!this.active) throw new Error("signing keys are not loaded; call start() or maintain() first");
    return this.active;
  }

  /** Rotates when due, forgets keys whose tokens have all expired, and loads the newest to sign. */
  maintain(): Promise<void> {
    this.maintaining ??= this.runMaintenance().finally(() => {
      this.maintaining = undefined;
    });
    return this.maintaining;
  }

  /** Every key a valid token can be signed with: the active one and the recently retired. */
  async published(): Promise<PublicJwk[]> {
    const now = this.now();
    return (await this.store.signingKeys())
      .filter((key) => key.retiredAt === undefined || key.retiredAt.getTime() + this.retentionMs() > now)
      .map((key) => {
        const jwk = JSON.parse(key.publicJwk) as JWK;
        return {
          kid: key.kid,
          kty: String(jwk.kty),
          crv: String(jwk.crv),
          x: String(jwk.x),
          alg: "EdDSA",
          use: "sig",
        };
      });
  }

  private retentionMs(): number {
    return (this.options.accessTokenTtlSeconds + this.reloadSeconds) * 1000;
  }

  private async runMaintenance(): Promise<void> {
    const now = this.now();
    const dueBefore = new Date(now - this.options.rotationSeconds * 1000);
    let newest = newestActive(await this.store.signingKeys());
    if (!newest || newest.createdAt <= dueBefore) {
      const candidate = await this.generate(new Date(now));
      if (await this.store.rotateSigningKey(candidate, dueBefore)) {
        this.options.logger?.info({ kid: candidate.kid }, "signing key rotated");
      }
      newest = newestActive(await this.store.signingKeys());
    }
    await this.store.deleteSigningKeysRetiredBefore(new Date(now - this.retentionMs()));
    if (!newest) throw new Error("no active signing key after rotation");
    if (this.active?.kid !== newest.kid) this.active = await this.unseal(newest);
  }

  private async generate(createdAt: Date): Promise<SigningKeyRecord> {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const { nonce, sealed } = seal(
      this.secret,
      Buffer.from(JSON.stringify(await exportJWK(privateKey))),
      aad(kid),
    );
    return {
      kid,
      publicJwk: JSON.stringify({ kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x }),
      sealedPrivateJwk: Buffer.concat([nonce, sealed]),
      createdAt,
      retiredAt: undefined,
    };
  }

  private async unseal(record: SigningKeyRecord): Promise<SigningKey> {
    let jwk: JWK;
    try {
      const plain = open(
        this.secret,
        record.sealedPrivateJwk.subarray(0, NONCE_BYTES),
        record.sealedPrivateJwk.subarray(NONCE_BYTES),
        aad(record.kid),
      );
      jwk = JSON.parse(plain.toString("utf8")) as JWK;
    } catch (err) {
      throw new Error(
        `cannot decrypt signing key ${record.kid}: was PARLEY_AUTH_SIGNING_KEY_SECRET changed?`,
        { cause: err },
      );
    }
    return { kid: record.kid, privateKey: (await importJWK(jwk, "EdDSA")) as CryptoKey };
  }
}

function newestActive(keys: SigningKeyRecord[]): SigningKeyRecord | undefined {
  let newest: SigningKeyRecord | undefined;
  for (const key of keys) {
    if (key.retiredAt === undefined && (!newest || key.createdAt > newest.createdAt)) newest = key;
  }
  return newest;
}
