import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import type { Probe } from "../dependency-probes.js";
import type { BlobConfig } from "./blob.config.js";

/** Readiness of the S3-compatible store: HEAD of the attachment bucket, on a client of its own. */
export function s3Probe(config: BlobConfig): Probe {
  const client = new S3Client({
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    credentials:
      config.s3AccessKeyId && config.s3SecretAccessKey
        ? { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey }
        : undefined,
    maxAttempts: 1,
  });
  return {
    async check() {
      await client.send(new HeadBucketCommand({ Bucket: config.s3Bucket }), {
        abortSignal: AbortSignal.timeout(1_000),
      });
    },
    async close() {
      client.destroy();
    },
  };
}
