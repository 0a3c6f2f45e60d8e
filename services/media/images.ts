import sharp from "sharp";

export interface SafeImage {
  /** The image re-encoded without metadata (EXIF, GPS, XMP, ICC comments), upright. */
  image: Buffer;
  thumbnail: Buffer;
  width: number;
  height: number;
}

export const THUMBNAIL_TYPE = "image/webp";

/**
 * Decodes an uploaded image and makes what others download: a copy rotated by its EXIF
 * orientation and re-encoded in the same format without any metadata (sharp keeps none unless
 * asked), and a small WebP thumbnail. Throws when the bytes are not a decodable image.
 */
export async function makeSafeImage(
  input: Buffer,
  type: string,
  thumbnailPixels: number,
): Promise<SafeImage> {
  const animated = type === "image/gif" || type === "image/webp";
  const decoder = () => sharp(input, { failOn: "error", animated, limitInputPixels: 100_000_000 });
  const format = FORMATS[type];
  if (!format) throw new Error(`not an image type media processes: ${type}`);
  const { data, info } = await decoder().rotate().toFormat(format).toBuffer({ resolveWithObject: true });
  const thumbnail = await sharp(input, { failOn: "error", limitInputPixels: 100_000_000 })
    .rotate()
    .resize(thumbnailPixels, thumbnailPixels, { fit: "inside", withoutEnlargement: true })
    .webp({ quality: 70 })
    .toBuffer();
  return { image: data, thumbnail, width: info.width, height: info.pageHeight ?? info.height };
}

const FORMATS: Record<string, "jpeg" | "png" | "webp" | "gif"> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
};
