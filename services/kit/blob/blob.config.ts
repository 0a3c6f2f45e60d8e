import { z } from "zod";
import { defineConfig, flag } from "../config.js";

/**
 * Where attachments are stored: S3-compatible storage when an endpoint or bucket is set, else a
 * local folder whose URLs the gateway signs and serves. Read by media (signs, inspects) and by the
 * gateway (serves the local folder's URLs), so both agree.
 */
export const blobConfig = defineConfig({
  s3Endpoint: {
    env: "PARLEY_MEDIA_S3_ENDPOINT",
    schema: z.url().optional(),
    help: "S3-compatible endpoint URL (e.g. https://s3.eu-west-1.amazonaws.com or a MinIO/versitygw URL). Unset with no bucket: the local folder.",
  },
  s3Bucket: {
    env: "PARLEY_MEDIA_S3_BUCKET",
    schema: z.string().min(3).max(63).optional(),
    help: "Bucket holding attachments; keep it private (Parley only hands out presigned URLs).",
  },
  s3Region: {
    env: "PARLEY_MEDIA_S3_REGION",
    schema: z.string().min(1).default("us-east-1"),
    help: "Region the requests are signed for.",
  },
  s3AccessKeyId: {
    env: "PARLEY_MEDIA_S3_ACCESS_KEY_ID",
    schema: z.string().optional(),
    help: "Access key id; unset: the AWS SDK's default credential chain (environment, web identity, instance role).",
  },
  s3SecretAccessKey: {
    env: "PARLEY_MEDIA_S3_SECRET_ACCESS_KEY",
    schema: z.string().optional(),
    help: "Secret access key of the access key id.",
  },
  s3ForcePathStyle: {
    env: "PARLEY_MEDIA_S3_FORCE_PATH_STYLE",
    schema: flag().default(false),
    help: "Path-style requests (endpoint/bucket/key): most non-AWS stores need this.",
  },
  s3ServerSideEncryption: {
    env: "PARLEY_MEDIA_S3_SSE",
    schema: z.enum(["none", "AES256", "aws:kms"]).default("AES256"),
    help: "Server-side encryption asked for on every object (none: the bucket's default).",
  },
  s3CreateBucket: {
    env: "PARLEY_MEDIA_S3_CREATE_BUCKET",
    schema: flag().default(false),
    help: "Create the bucket at start-up when it is missing (development and tests; production buckets are made by the operator).",
  },
  localDir: {
    env: "PARLEY_MEDIA_LOCAL_DIR",
    schema: z.string().optional(),
    help: "Folder of the local attachment store. Unset: media/objects in the data folder.",
  },
  urlSecret: {
    env: "PARLEY_MEDIA_URL_SECRET",
    schema: z.string().optional(),
    help: "Base64 32-byte key signing the local store's URLs (media and gateway must share it). Unset: generated under the data folder.",
  },
  publicUrl: {
    env: "PARLEY_MEDIA_PUBLIC_URL",
    schema: z.url().optional(),
    help: "The gateway's public URL, to make the local store's URLs absolute. Unset: they are relative to the gateway.",
  },
});

export type BlobConfig = ReturnType<typeof blobConfig.load>;

export function usesS3(config: BlobConfig): boolean {
  return Boolean(config.s3Endpoint || config.s3Bucket);
}

/** Where and as whom every S3 client of Parley connects (the store's, the readiness probe's). */
export interface S3Connection {
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** undefined: the AWS SDK's default credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export function s3Connection(config: BlobConfig): S3Connection {
  return {
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    credentials:
      config.s3AccessKeyId && config.s3SecretAccessKey
        ? { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey }
        : undefined,
  };
}
