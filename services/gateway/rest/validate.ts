import { z } from "zod";
import { invalidArgument } from "../../kit/errors.js";

/** Validates against `schema`; the 400 names the first bad field and what is wrong with it. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, where = "body"): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw invalidArgument(`${where} is not valid`);
  const field = issue.path.length > 0 ? issue.path.join(".") : where;
  throw invalidArgument(`${field}: ${issue.message}`);
}

/** Strings in a body must be strings: no numbers or nulls coerced. */
export const text = () =>
  z.string({ error: (i) => (i.input === undefined ? "is required" : "must be a string") });

/** Optional `attachments` of a send: ids from POST /attachments, each completed. */
export const attachmentIds = z
  .array(text().max(64, "is too long"))
  .max(10, "at most 10 attachments")
  .optional();

/** Paging query of both history routes: ?limit=1..200&before=<cursor>. */
export const pagingFields = {
  limit: z
    .string()
    .regex(/^[0-9]{1,4}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1").max(200, "must be at most 200"))
    .optional(),
  before: z.string().min(1, "must not be empty").max(256, "is too long").optional(),
};

/** Query parameters as an object; a repeated parameter is a 400, not silently the first value. */
export function queryObject(query: URLSearchParams, allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of query) {
    if (!allowed.includes(key)) continue;
    if (key in out) throw invalidArgument(`${key}: must be given at most once`);
    out[key] = value;
  }
  return out;
}
