import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { startNeonProxy, type NeonProxy } from "./neon-proxy.js";
import { freePort, portOr } from "./ports.js";
import { startPostgres, type RunningPostgres } from "./postgres.js";
import { startRedisServer, type RunningRedis } from "./redis-server.js";
import { startS3, type RunningS3 } from "./s3.js";
import { startUpstashBridge, type UpstashBridge } from "./upstash-bridge.js";

export interface StackOptions {
  /** Root folder for the stack's data (Postgres cluster, Redis AOF, S3 objects). */
  dataDir: string;
  /** Keep data across restarts (npm start) or not (tests). @default true */
  persistent?: boolean;
  /** Database to create and hand out. @default "hitl" */
  database?: string;
  /** Preferred ports (reused from a previous run when free). */
  ports?: Partial<Record<"postgres" | "neonProxy" | "redis" | "upstash" | "s3", number>>;
  /** Upstash REST token; random when absent. */
  upstashToken?: string;
  bucket?: string;
  log?: (line: string) => void;
}

/** Everything a client needs to reach the local stack; also written to DATA_DIR/stack.json. */
export interface StackEndpoints {
  databaseUrl: string;
  neonProxyUrl: string;
  upstashUrl: string;
  upstashToken: string;
  redisUrl: string;
  s3Endpoint: string;
  s3Bucket: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  ports: Record<"postgres" | "neonProxy" | "redis" | "upstash" | "s3", number>;
  postgresDataDir: string;
  /** Token of the fault switches (`/__faults` on the Upstash bridge and the Neon proxy). */
  faultToken: string;
  /** Server pids, for `npm run fault -- <store> stop|cont|kill`. */
  pids: { postgres: number; redis: number };
}

/**
 * The service's settings (environment-variable names of core's config) that point it at a local
 * stack: `npm start`, the CLI and the tests add keys and tuning on top.
 */
export function stackSettings(s: StackEndpoints): Record<string, string> {
  return {
    HITL_MODE: "local",
    DATABASE_URL: s.databaseUrl,
    LOCAL_NEON_PROXY_URL: s.neonProxyUrl,
    UPSTASH_REDIS_REST_URL: s.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: s.upstashToken,
    S3_BUCKET: s.s3Bucket,
    S3_ENDPOINT: s.s3Endpoint,
    AWS_ACCESS_KEY_ID: s.s3AccessKeyId,
    AWS_SECRET_ACCESS_KEY: s.s3SecretAccessKey,
  };
}

export interface LocalStack extends StackEndpoints {
  postgres: RunningPostgres;
  redis: RunningRedis;
  bridge: UpstashBridge;
  proxy: NeonProxy;
  s3: RunningS3;
  /** Superuser URL for another database on the same cluster. */
  adminUrl(database?: string): string;
  endpoints(): StackEndpoints;
  /** Calls `onDeath` once if Postgres or redis-server exits while the stack is not being stopped. */
  watch(onDeath: (server: "postgres" | "redis-server", pid: number, code: number | string | null) => void): void;
  stop(): Promise<void>;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

/** Starts Postgres (+ Neon proxy), Redis (+ Upstash bridge) and S3 on loopback. */
export async function startStack(opts: StackOptions): Promise<LocalStack> {
  const persistent = opts.persistent ?? true;
  const database = opts.database ?? "hitl";
  const bucket = opts.bucket ?? "hitl-backups";
  const p = opts.ports ?? {};
  const pgDir = path.join(opts.dataDir, "postgres");
  const started: { stop(): Promise<void> }[] = [];
  let stopping = false;
  try {
    const postgres = await startPostgres({ dataDir: pgDir, port: await portOr(p.postgres), fast: !persistent, log: opts.log });
    started.push(postgres);
    await ensureDatabase(postgres.url(), database);
    const faultToken = randomBytes(18).toString("base64url");
    const proxy = await startNeonProxy({
      postgresPort: postgres.port,
      port: p.neonProxy ? await portOr(p.neonProxy) : await freePort(),
      faultToken,
    });
    started.push(proxy);
    const redis = await startRedisServer({ port: await portOr(p.redis), dir: persistent ? path.join(opts.dataDir, "redis") : undefined });
    started.push(redis);
    const token = opts.upstashToken ?? randomBytes(24).toString("base64url");
    const bridge = await startUpstashBridge({
      redisUrl: redis.url,
      token,
      port: p.upstash ? await portOr(p.upstash) : undefined,
      faultToken,
    });
    started.push(bridge);
    const s3 = await startS3({ dir: path.join(opts.dataDir, "s3"), port: await portOr(p.s3), bucket });
    started.push(s3);
    const endpoints = (): StackEndpoints => ({
      databaseUrl: postgres.url(database),
      neonProxyUrl: proxy.url,
      upstashUrl: bridge.url,
      upstashToken: token,
      redisUrl: redis.url,
      s3Endpoint: s3.endpoint,
      s3Bucket: bucket,
      s3AccessKeyId: s3.accessKeyId,
      s3SecretAccessKey: s3.secretAccessKey,
      ports: { postgres: postgres.port, neonProxy: proxy.port, redis: redis.port, upstash: bridge.port, s3: s3.port },
      postgresDataDir: postgres.dataDir,
      faultToken,
      pids: { postgres: postgres.pid, redis: redis.pid },
    });
    return {
      ...endpoints(),
      postgres,
      redis,
      bridge,
      proxy,
      s3,
      adminUrl: (db?: string) => postgres.url(db),
      endpoints,
      watch(onDeath) {
        let told = false;
        const tell = (server: "postgres" | "redis-server", pid: number) => (code: number | string | null) => {
          if (stopping || told) return;
          told = true;
          onDeath(server, pid, code);
        };
        void postgres.exited.then(tell("postgres", postgres.pid));
        void redis.exited.then(tell("redis-server", redis.pid));
      },
      async stop() {
        stopping = true;
        for (const s of started.reverse()) await s.stop().catch(() => {});
        // A throwaway stack leaves nothing: its cluster may live outside dataDir (see effectiveDataDir).
        if (!persistent) await rm(postgres.dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    for (const s of started.reverse()) await s.stop().catch(() => {});
    throw e;
  }
}
