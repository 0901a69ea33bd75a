import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { S3BlobStore } from "@hitl/core/backup";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { createTestContext, stack, type TestContext } from "./stack.js";

/** A bucket of its own, so tests listing and pruning sets never see another file's. */
export async function createTestBucket(): Promise<{ bucket: string; store: S3BlobStore }> {
  const s = stack();
  const bucket = `t-${randomBytes(5).toString("hex")}`;
  const credentials = { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey };
  const client = new S3Client({ endpoint: s.s3Endpoint, region: "us-east-1", forcePathStyle: true, credentials });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { bucket, store: new S3BlobStore({ bucket, region: "us-east-1", endpoint: s.s3Endpoint, credentials }) };
}

/**
 * A backup test file's set-up (registered as its first hooks): a bucket of its own, a test context
 * whose S3_BUCKET it is, the WebSocket pool pointed at the local Neon proxy, and `dbFor(url)`
 * pools, each ended after the file. Read `t` and `store` inside tests or later hooks.
 */
export function useBackupContext(): { t: TestContext; store: S3BlobStore; dbFor(url: string): PoolDb } {
  const pools: PoolDb[] = [];
  const ctx = {
    dbFor(url: string) {
      const p = new PoolDb(url);
      pools.push(p);
      return p;
    },
  } as { t: TestContext; store: S3BlobStore; dbFor(url: string): PoolDb };
  beforeAll(async () => {
    const b = await createTestBucket();
    ctx.store = b.store;
    ctx.t = await createTestContext({ S3_BUCKET: b.bucket });
    useLocalNeonProxy(stack().neonProxyUrl);
  });
  afterAll(() => Promise.all(pools.map((p) => p.end())));
  return ctx;
}

/** An empty database (no schema): what a restore starts from. */
export async function createEmptyDatabase(): Promise<string> {
  const name = `r_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: stack().adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return stack().databaseUrl.replace(/\/[^/]+$/, `/${name}`);
}

export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Row count and an md5 of every row's JSON in primary-key order, per table. */
export async function tableFingerprints(url: string, skip: string[] = []): Promise<Record<string, { rows: number; md5: string }>> {
  return withPg(url, async (c) => {
    const tables = (
      await c.query(`SELECT c.relname AS name,
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`)
    ).rows;
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const t of tables) {
      if (skip.includes(t.name)) continue;
      const [r] = (
        await c.query(
          `SELECT count(*)::int AS rows, md5(coalesce(string_agg(x::text, '|' ORDER BY ${t.pk}), '')) AS md5 FROM "${t.name}" x`,
        )
      ).rows;
      out[t.name] = r;
    }
    return out;
  });
}
