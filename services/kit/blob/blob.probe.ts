import type { S3Client } from "@aws-sdk/client-s3";
import type { Probe } from "../dependency-probes.js";
import { type BlobConfig, s3Connection } from "./blob.config.js";

/**
 * Readiness of the S3-compatible store: HEAD of the attachment bucket, on a client of its own.
 * The SDK is loaded by the first check: only a process that talks to S3 pays for it.
 */
export function s3Probe(config: BlobConfig): Probe {
  let client: S3Client | undefined;
  return {
    async check() {
      const { HeadBucketCommand, S3Client } = await import("@aws-sdk/client-s3");
      client ??= new S3Client({ ...s3Connection(config), maxAttempts: 1 });
      await client.send(new HeadBucketCommand({ Bucket: config.s3Bucket }), {
        abortSignal: AbortSignal.timeout(1_000),
      });
    },
    async close() {
      client?.destroy();
    },
  };
}
