// Test fixture (imported by tests only): a fresh bucket on the real S3-compatible server that
// test/global-setup.ts started (versitygw), emptied and removed again on cleanup.
import { randomBytes } from "node:crypto";
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { realServerSetting } from "../../../test/real-servers.js";
import { blobConfig, s3Connection } from "./blob.config.js";
import { S3BlobStore } from "./blob.s3.js";

export interface TestS3 {
  store: S3BlobStore;
  endpoint: string;
  bucket: string;
  /** The environment that points Parley at this bucket. */
  env: Record<string, string>;
  /** Keys in the bucket now (tests assert what was stored or removed). */
  keys(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function testS3Env(bucket: string): Record<string, string> {
  return {
    PARLEY_MEDIA_S3_ENDPOINT: realServerSetting("PARLEY_TEST_S3_ENDPOINT"),
    PARLEY_MEDIA_S3_REGION: realServerSetting("PARLEY_TEST_S3_REGION"),
    PARLEY_MEDIA_S3_ACCESS_KEY_ID: realServerSetting("PARLEY_TEST_S3_ACCESS_KEY"),
    PARLEY_MEDIA_S3_SECRET_ACCESS_KEY: realServerSetting("PARLEY_TEST_S3_SECRET_KEY"),
    PARLEY_MEDIA_S3_BUCKET: bucket,
    PARLEY_MEDIA_S3_FORCE_PATH_STYLE: "true",
    PARLEY_MEDIA_S3_CREATE_BUCKET: "true",
  };
}

export async function openTestS3(): Promise<TestS3> {
  const endpoint = realServerSetting("PARLEY_TEST_S3_ENDPOINT");
  const bucket = `parley-test-${randomBytes(6).toString("hex")}`;
  const env = testS3Env(bucket);
  const connection = s3Connection(blobConfig.load(env));
  const store = await S3BlobStore.open({
    connection,
    bucket,
    serverSideEncryption: "AES256",
    createBucket: true,
  });
  const client = new S3Client(connection);
  const keys = async () => {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (listed.Contents ?? []).map((o) => o.Key ?? "").sort();
  };
  return {
    store,
    endpoint,
    bucket,
    env,
    keys,
    async cleanup() {
      const all = await keys().catch(() => []);
      if (all.length > 0) {
        await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all.map((Key) => ({ Key })) } }),
        );
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
      client.destroy();
      store.close();
    },
  };
}
