export { startStack, stackSettings, type LocalStack, type StackEndpoints, type StackOptions } from "./stack.js";
export { startPostgres, PG_MAJOR } from "./postgres.js";
export { startNeonProxy } from "./neon-proxy.js";
export { startRedisServer, redisServerBin } from "./redis-server.js";
export { startUpstashBridge } from "./upstash-bridge.js";
export { startS3, S3RVER_CREDENTIALS } from "./s3.js";
export { freePort, portOr, waitForPort } from "./ports.js";
