import { z } from "zod";

/** One setting: the environment variable it comes from, its schema (with default) and help text. */
export interface Setting<T extends z.ZodType = z.ZodType> {
  env: string;
  schema: T;
  help: string;
}

type Values<S extends Record<string, Setting>> = { [K in keyof S]: z.output<S[K]["schema"]> };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface ConfigSpec<S extends Record<string, Setting>> {
  settings: S;
  /** Reads every setting; throws a ConfigError naming every bad variable at once. */
  load(env?: NodeJS.ProcessEnv): Values<S>;
}

export function defineConfig<S extends Record<string, Setting>>(settings: S): ConfigSpec<S> {
  return {
    settings,
    load(env = process.env) {
      const values: Record<string, unknown> = {};
      const problems: string[] = [];
      for (const [key, setting] of Object.entries(settings)) {
        const raw = env[setting.env];
        const parsed = setting.schema.safeParse(raw === "" ? undefined : raw);
        if (parsed.success) values[key] = parsed.data;
        else problems.push(`${setting.env}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
      }
      if (problems.length > 0) throw new ConfigError(problems);
      return values as Values<S>;
    },
  };
}

export const port = () => z.coerce.number().int().min(0).max(65535);
export const seconds = () => z.coerce.number().int().positive();
export const flag = () => z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
/** A comma-separated list; empty entries dropped. */
export const list = () =>
  z.string().transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
