import { Counter, Histogram } from "prom-client";
import { registry } from "../kit/metrics.js";

export const uploadsStarted = new Counter({
  name: "parley_media_uploads_started_total",
  help: "Uploads asked for (presigned PUT URLs handed out).",
  registers: [registry],
});

export const uploadsCompleted = new Counter({
  name: "parley_media_uploads_completed_total",
  help: "Uploads completed and ready, by kind (image or file).",
  labelNames: ["kind"] as const,
  registers: [registry],
});

export const uploadsFailed = new Counter({
  name: "parley_media_uploads_failed_total",
  help: "Completions refused, by reason (missing, size, checksum, type, image).",
  labelNames: ["reason"] as const,
  registers: [registry],
});

export const uploadedBytes = new Counter({
  name: "parley_media_uploaded_bytes_total",
  help: "Bytes of completed uploads (as uploaded).",
  registers: [registry],
});

export const completionDuration = new Histogram({
  name: "parley_media_completion_duration_seconds",
  help: "Time to check and complete an upload, by kind (images include thumbnail and metadata stripping).",
  labelNames: ["kind"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** What the clean-up removes: pending uploads never completed, and images' originals left behind. */
export type CleanupObject = "stale_upload" | "image_original";

export const cleanupRemoved = new Counter({
  name: "parley_media_cleanup_removed_total",
  help: "Objects removed by the clean-up, by object: stale_upload (a pending upload past its time, row and object) or image_original (an image's original, with its metadata, that completion could not delete).",
  labelNames: ["object"] as const,
  registers: [registry],
});

export const cleanupFailures = new Counter({
  name: "parley_media_cleanup_failures_total",
  help: "Removals that failed and are retried on the next clean-up pass, by object (stale_upload, image_original).",
  labelNames: ["object"] as const,
  registers: [registry],
});

// Both series exist from the start, so rates and alerts see a zero rather than nothing.
for (const object of ["stale_upload", "image_original"] satisfies CleanupObject[]) {
  cleanupRemoved.inc({ object }, 0);
  cleanupFailures.inc({ object }, 0);
}
