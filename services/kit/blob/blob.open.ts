import { join } from "node:path";
import { loadOrCreateKey } from "../key-file.js";
import { type BlobConfig, s3Connection, usesS3 } from "./blob.config.js";
import type { BlobStore } from "./blob.js";
import { LocalBlobStore } from "./blob.local.js";

/** The attachment store the configuration names: S3-compatible storage, else the local folder. */
export async function openBlobStore(config: BlobConfig, dataDir: string): Promise<BlobStore> {
  if (usesS3(config)) {
    if (!config.s3Bucket) throw new Error("PARLEY_MEDIA_S3_BUCKET is required with PARLEY_MEDIA_S3_ENDPOINT");
    // Imported here: the gateway opens only the local store and need not load the S3 SDK.
    const { S3BlobStore } = await import("./blob.s3.js");
    return S3BlobStore.open({
      connection: s3Connection(config),
      bucket: config.s3Bucket,
      serverSideEncryption: config.s3ServerSideEncryption,
      createBucket: config.s3CreateBucket,
    });
  }
  return openLocalBlobStore(config, dataDir);
}

/** The local folder store; the gateway opens the same one to serve its URLs. */
export function openLocalBlobStore(config: BlobConfig, dataDir: string): LocalBlobStore {
  const dir = config.localDir ?? join(dataDir, "media", "objects");
  const secret = loadOrCreateKey(config.urlSecret, join(dataDir, "media", "url-signing.key"));
  return new LocalBlobStore(dir, secret, config.publicUrl?.replace(/\/$/, "") ?? "");
}
