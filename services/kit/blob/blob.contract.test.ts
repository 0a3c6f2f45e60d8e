import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobStoreContract } from "./blob.contract.js";
import { LocalBlobStore } from "./blob.local.js";
import { openTestS3 } from "./blob.s3.fixture.js";

blobStoreContract("local folder served by a signed-URL handler", async () => {
  const dir = mkdtempSync(join(tmpdir(), "parley-blob-"));
  const store = new LocalBlobStore(dir, randomBytes(32));
  const server = createServer((req, res) => void store.serve(req, res).catch(() => {}));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    store,
    baseUrl: `http://127.0.0.1:${port}`,
    async cleanup() {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

blobStoreContract("S3 (versitygw)", async () => {
  const s3 = await openTestS3();
  return { store: s3.store, baseUrl: s3.endpoint, cleanup: s3.cleanup };
});
