import { ConfigError } from "../errors.js";
import { type Config, ConfigSchema } from "./schema.js";

type Source = Record<string, string | undefined>;

/** Parses a settings source into a Config, or throws a one-line ConfigError naming the setting. */
export function parseConfig(source: Source): Config {
  const result = ConfigSchema.safeParse(source);
  if (result.success) return result.data;
  const first = result.error.issues[0]!;
  const name = first.path.length ? String(first.path[0]) : "configuration";
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : "";
  const msg = first.code === "invalid_type" && source[name] === undefined ? "is required" : first.message;
  throw new ConfigError(`invalid configuration: ${name} ${msg}${more}`);
}

let cached: Promise<Config> | undefined;

/**
 * The process's configuration, parsed once. `overlay` adds settings from elsewhere (in Lambda,
 * functions/lib/config.ts reads SST's links and secrets; core never reads `sst/resource`).
 */
export function loadConfig(env: Source = process.env, overlay: () => Promise<Source> = async () => ({})): Promise<Config> {
  cached ??= overlay().then((extra) => parseConfig({ ...env, ...extra }));
  return cached;
}
