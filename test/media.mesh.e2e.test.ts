import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUser, restClient } from "./clients.js";
import { mediaScenarios } from "./media.scenarios.js";
import { startTestMesh, type TestMesh } from "./mesh.js";
import { realServerSetting } from "./real-servers.js";

let mesh: TestMesh;
let s3: S3Client;

beforeAll(async () => {
  mesh = await startTestMesh();
  s3 = new S3Client({
    endpoint: realServerSetting("PARLEY_TEST_S3_ENDPOINT"),
    region: realServerSetting("PARLEY_TEST_S3_REGION"),
    forcePathStyle: true,
    credentials: {
      accessKeyId: realServerSetting("PARLEY_TEST_S3_ACCESS_KEY"),
      secretAccessKey: realServerSetting("PARLEY_TEST_S3_SECRET_KEY"),
    },
  });
}, 180_000);

afterAll(async () => {
  s3?.destroy();
  await mesh?.stop();
}, 60_000);

const bucketKeys = async () => {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: mesh.names.s3Bucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? "").sort();
};

describe("attachments in mesh mode: media as its own process, on PostgreSQL and the real S3 server", () => {
  mediaScenarios(() => ({ url: mesh.url, objects: bucketKeys }));

  it("runs media as its own process with its own PostgreSQL database, its objects in the mesh's bucket", async () => {
    expect(mesh.processes.media.pid).not.toBe(mesh.processes.messages.pid);
    expect((await mesh.roles()).media).toEqual(["postgres:media", "s3"]);
    const api = restClient(mesh.url);
    const [alice, bob] = [await newUser(api), await newUser(api)];
    const created = await api.post(
      "/attachments",
      {
        recipient: bob.username,
        fileName: "a.txt",
        contentType: "text/plain",
        size: 2,
        sha256: "0".repeat(64),
      },
      alice.token,
    );
    expect(created.body.upload.url).toContain(
      `/${mesh.names.s3Bucket}/attachments/${created.body.attachmentId}/`,
    );
  });
});
