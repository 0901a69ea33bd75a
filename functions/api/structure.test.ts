import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** Every .ts file under `dir` (tests excluded), with its text. */
function sources(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => ({ path: join(dir, f), text: readFileSync(join(dir, f), "utf8") }));
}
const offenders = (files: { path: string; text: string }[], pattern: RegExp) =>
  files.filter((f) => pattern.test(f.text)).map((f) => f.path);

describe("how the code is laid out (issue 25)", () => {
  const routes = sources("functions/api/routes");
  const core = sources("packages/core/src");

  it("handlers call core in one style: a free function with deps(c) (or its Db port) first, never a service object's method or a hand-built deps object", () => {
    expect(routes.length).toBeGreaterThan(10);
    // A method of a stateful service called from a handler (services.wal.claim(...), .reviews.start(...), .memory.get(...)).
    expect(offenders(routes, /get\("services"\)\s*\.(wal|reviews|memory|db|redis|storage)\b/)).toEqual([]);
    // A deps object assembled by hand from the services ({ db: s.db, redis: s.redis, ... }).
    expect(offenders(routes, /\{\s*(db|redis|wal): s\.(db|redis|wal)\b/)).toEqual([]);
    expect(offenders(routes, /storeDeps|\bconst db = \(c/)).toEqual([]);
  });

  it("one place reads the Idempotency-Key header and one builder (scopedKey) makes every idempotency key", () => {
    const all = [...sources("functions"), ...core];
    expect(offenders(all, /header\(\s*["']idempotency-key["']\s*\)/i)).toEqual([join("functions/api/http/idempotency.ts")]);
    expect(offenders(all, /\bscopedKey\(/)).toEqual(
      expect.arrayContaining([join("functions/api/http/idempotency.ts"), join("packages/core/src/idempotency/keys.ts")]),
    );
    expect(offenders(all, /\bscopedKey\(/)).toHaveLength(2);
  });

  it("core is typed by ports: no function takes an adapter class (NeonDb, RedisGateway, FetchBlobStore) outside the composition root", () => {
    const roots = [
      "services.ts",
      "index.ts",
      join("cache", "redis.ts"),
      join("cache", "ratelimit.ts"),
      join("db", "db.ts"),
      join("storage", "fetch-blob.ts"),
    ];
    const rest = core.filter((f) => !roots.some((r) => f.path.endsWith(join("packages/core/src", r))));
    expect(offenders(rest, /:\s*(NeonDb|RedisGateway|FetchBlobStore)\b/)).toEqual([]);
  });

  it("core never reads SST's links (functions/lib/config.ts does), and HTTP-only errors live in functions/api/http", () => {
    expect(offenders(core, /from ["']sst(\/resource)?["']/)).toEqual([]);
    const errors = readFileSync("packages/core/src/errors.ts", "utf8");
    for (const http of ["Unauthorized", "Forbidden", "MethodNotAllowed", "PayloadTooLarge", "UnsupportedMediaType"])
      expect(errors, http).not.toMatch(new RegExp(`class ${http}`));
  });
});
