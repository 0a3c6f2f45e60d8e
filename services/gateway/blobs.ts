import type { BlobConfig } from "../kit/blob/blob.config.js";
import { usesS3 } from "../kit/blob/blob.config.js";
import { LOCAL_BLOB_PATH, type LocalBlobStore } from "../kit/blob/blob.local.js";
import { openLocalBlobStore } from "../kit/blob/blob.open.js";
import type { Logger } from "../kit/logger.js";
import type { Handler } from "./listener.js";

/**
 * On embedded defaults (no S3 configured) the gateway serves the local attachment store's signed
 * URLs under /blobs/: the same folder and signing key as media's. With S3 the bytes go to the
 * object store directly and nothing is served here.
 */
export function withLocalBlobs(
  { config, dataDir, logger }: { config: BlobConfig; dataDir: string; logger: Logger },
  handler: Handler,
): Handler {
  if (usesS3(config)) return handler;
  // Opened on first use: a gateway whose media runs elsewhere on S3 never touches a folder or key.
  let store: LocalBlobStore | undefined;
  return (req, res) => {
    const url = req.url ?? "";
    if (!url.startsWith(LOCAL_BLOB_PATH) || (req.method !== "GET" && req.method !== "PUT")) {
      handler(req, res);
      return;
    }
    Promise.resolve()
      .then(() => {
        store ??= openLocalBlobStore(config, dataDir);
        return store.serve(req, res);
      })
      .catch((err: unknown) => {
        logger.error({ err }, "serving a local blob failed");
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      });
  };
}
