import { z } from "zod";
import { defineConfig, list, seconds } from "../kit/config.js";

const positiveInt = () => z.coerce.number().int().positive();

export const mediaConfig = defineConfig({
  maxBytes: {
    env: "PARLEY_MEDIA_MAX_BYTES",
    schema: positiveInt().default(100 * 1024 * 1024),
    help: "Largest attachment accepted, in bytes (default 100 MiB).",
  },
  allowedTypes: {
    env: "PARLEY_MEDIA_ALLOWED_TYPES",
    schema: list().default([
      "image/*",
      "video/*",
      "audio/*",
      "text/*",
      "application/pdf",
      "application/zip",
      "application/json",
      "application/octet-stream",
    ]),
    help: "Content types an attachment may declare (comma-separated; type/* allows a whole family).",
  },
  uploadUrlSeconds: {
    env: "PARLEY_MEDIA_UPLOAD_URL_SECONDS",
    schema: seconds()
      .max(7 * 24 * 3600)
      .default(900),
    help: "How long a presigned upload URL stays valid.",
  },
  downloadUrlSeconds: {
    env: "PARLEY_MEDIA_DOWNLOAD_URL_SECONDS",
    schema: seconds()
      .max(7 * 24 * 3600)
      .default(300),
    help: "How long a presigned download URL stays valid.",
  },
  pendingSeconds: {
    env: "PARLEY_MEDIA_PENDING_SECONDS",
    schema: seconds().default(3600),
    help: "An upload not completed within this time is removed, with its object, by the clean-up.",
  },
  cleanupIntervalSeconds: {
    env: "PARLEY_MEDIA_CLEANUP_INTERVAL_SECONDS",
    schema: seconds().default(300),
    help: "How often each media process looks for stale pending uploads.",
  },
  thumbnailPixels: {
    env: "PARLEY_MEDIA_THUMBNAIL_PIXELS",
    schema: positiveInt().max(2048).default(320),
    help: "Longest side of an image thumbnail, in pixels.",
  },
  createLimit: {
    env: "PARLEY_MEDIA_CREATE_LIMIT",
    schema: positiveInt().default(300),
    help: "Uploads a user may start per minute.",
  },
});

export type MediaConfig = ReturnType<typeof mediaConfig.load>;
