export { parseConfig, loadConfig } from "./load.js";
export { ConfigSchema, ApiKeyEntry, SCOPES, type Scope, type Config } from "./schema.js";
