export { parseConfig, loadConfig } from "./load.js";
export { ConfigSchema, ApiKeyEntry, SCOPES, type Scope } from "./schema.js";
export type { Config } from "./types.js";
