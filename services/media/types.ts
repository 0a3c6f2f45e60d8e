import { fileTypeFromBuffer, supportedMimeTypes } from "file-type";

/** How many leading bytes type sniffing reads. */
export const SNIFF_BYTES = 4100;

/** Raster images media decodes: thumbnails, metadata stripped, shown inline. Everything else downloads. */
export const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif"]);

const ALIASES: Record<string, string> = {
  "image/jpg": "image/jpeg",
  "image/pjpeg": "image/jpeg",
  "audio/mp3": "audio/mpeg",
  "application/x-zip-compressed": "application/zip",
};

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** A declared content type in canonical form, or undefined when it is not a plain type/subtype. */
export function canonicalType(declared: string): string | undefined {
  const type = declared.trim().toLowerCase();
  if (!MEDIA_TYPE.test(type)) return undefined;
  return ALIASES[type] ?? type;
}

/** Whether `type` matches one of the configured patterns (`image/*` or an exact type). */
export function typeAllowed(type: string, allowed: string[]): boolean {
  return allowed.some((pattern) => {
    const p = pattern.trim().toLowerCase();
    return p === "*/*" || p === type || (p.endsWith("/*") && type.startsWith(p.slice(0, -1)));
  });
}

/**
 * Whether the first bytes of a file are consistent with its declared type. When the sniffer
 * recognises the bytes, they must be the declared type (octet-stream claims nothing). When it
 * does not, the declared type must not be one whose files it would have recognised: a "PNG"
 * without a PNG signature is refused, a text file is not.
 */
export async function sniffMismatch(declared: string, head: Uint8Array): Promise<string | undefined> {
  const found = await fileTypeFromBuffer(head);
  if (declared === "application/octet-stream") return undefined;
  if (found) {
    const sniffed = ALIASES[found.mime] ?? found.mime;
    return sniffed === declared ? undefined : `the file is ${sniffed}, not ${declared}`;
  }
  return needsSignature(declared) ? `the file is not ${declared}` : undefined;
}

/** Types with a binary signature the sniffer knows (XML and text families are recognised only sometimes). */
function needsSignature(type: string): boolean {
  if (IMAGE_TYPES.has(type)) return true;
  return (
    (supportedMimeTypes as ReadonlySet<string>).has(type) &&
    !type.includes("xml") &&
    !type.startsWith("text/")
  );
}
