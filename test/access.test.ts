import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServices, hashKey, pruneAudit, SCOPES, type Scope } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { ROUTE_SCOPES, routeKey } from "../functions/api/http/openapi.js";
import { keysCommand, UsageError } from "../scripts/keys.js";
import { createTestContext, type TestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

/** The revocation bound under test (API_KEY_MAX_AGE_MS; 30 s deployed). */
const BOUND_MS = 1500;

let t: TestContext;
/** An instance whose copy is reloaded only when a test says so (for counting what a check costs). */
let u: TestContext;
beforeAll(async () => {
  t = await createTestContext({ API_KEY_MAX_AGE_MS: String(BOUND_MS) });
  u = await createTestContext();
});

const sql = (text: string, params: unknown[] = []) => sqlOn(t, text, params);
async function sqlOn(ctx: TestContext, text: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: ctx.databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}
const json = async (r: Response | Promise<Response>) => (await (await r).json()) as any;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let names = 0;
const uniqueName = (p: string) => `${p}-${++names}-${Date.now() % 100000}`;

async function create(body: Record<string, unknown>, ctx: TestContext = t) {
  const res = await ctx.call("POST", "/v1/keys", { key: ctx.keys.admin, body });
  expect(res.status).toBe(201);
  return json(res) as Promise<{
    key: string;
    api_key: { id: string; name: string; state: string; expires_at: string | null };
    active_everywhere_by: string;
  }>;
}

/** A second API instance on the same stores: its own services, its own copy of the keys. */
function secondInstance(ctx: TestContext) {
  const services = createServices(ctx.config);
  const app = createApp(async () => services);
  const call: TestContext["call"] = (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body) headers["content-type"] = "application/json";
    return Promise.resolve(app.request(path, { method, headers, body }));
  };
  return { services, app, call };
}

describe("stored keys: create, list, use", () => {
  it("shows the key once, stores only its hash, and never answers it again", async () => {
    const name = uniqueName("rev");
    const issued = await create({ name, scopes: ["reviewer"] });
    expect(issued.key).toMatch(/^hitl_[A-Za-z0-9_-]{43}$/);
    expect(issued.api_key).toMatchObject({ name, state: "active", expires_at: null });
    const [stored] = await sql("SELECT encode(key_sha256, 'hex') AS h, row_to_json(k)::text AS whole FROM api_keys k WHERE id = $1", [
      issued.api_key.id,
    ]);
    expect(stored.h).toBe(hashKey(issued.key));
    expect(stored.whole).not.toContain(issued.key);
    const listed = await t.call("GET", "/v1/keys?include_revoked=true", { key: t.keys.admin });
    const text = await listed.text();
    expect(text).toContain(issued.api_key.id);
    expect(text).not.toContain(issued.key);
    expect(text).not.toContain(hashKey(issued.key));
    expect((await t.call("GET", "/v1/reviews", { key: issued.key })).status).toBe(200);
  });

  it("the key's name is the reviewer id of its review actions", async () => {
    const name = uniqueName("alice");
    const { key } = await create({ name, scopes: ["reviewer"] });
    const made = await json(t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody() }));
    expect((await t.call("POST", `/v1/reviews/${made.id}/approve`, { key, body: approveBody() })).status).toBe(200);
    const [row] = await sql("SELECT reviewer_id FROM interactions WHERE id = $1", [made.id]);
    expect(row.reviewer_id).toBe(name);
  });

  it("refuses bad input with 400 and taken names with 409, and non-admins with 403", async () => {
    const bad = [
      { name: "has space", scopes: ["reviewer"] },
      { name: "x", scopes: [] },
      { name: "x", scopes: ["root"] },
      { name: "x", scopes: ["bot", "bot"] },
      { name: "x", scopes: ["bot"], expires_at: "2001-01-01T00:00:00Z" },
      { name: "x", scopes: ["bot"], extra: 1 },
      { name: "x", scopes: ["bot"], rate_limit: { requests: 0, window_seconds: 60 } },
      { scopes: ["bot"] },
    ];
    for (const body of bad) expect((await t.call("POST", "/v1/keys", { key: t.keys.admin, body })).status).toBe(400);
    const name = uniqueName("dup");
    await create({ name, scopes: ["bot"] });
    const again = await t.call("POST", "/v1/keys", { key: t.keys.admin, body: { name, scopes: ["bot"] } });
    expect(again.status).toBe(409);
    expect((await t.call("POST", "/v1/keys", { key: t.keys.admin, body: { name: "reviewer-key", scopes: ["bot"] } })).status).toBe(409);
    expect((await t.call("POST", "/v1/keys", { key: t.keys.reviewer, body: { name: uniqueName("x"), scopes: ["admin"] } })).status).toBe(
      403,
    );
    expect((await t.call("POST", "/v1/keys/not-a-key/revoke", { key: t.keys.admin })).status).toBe(400);
    expect((await t.call("POST", `/v1/keys/key_${"0".repeat(24)}/revoke`, { key: t.keys.admin })).status).toBe(404);
  });

  it("an expired key is refused (expiry is checked at each use, not at reload)", async () => {
    const { key } = await create({ name: uniqueName("short"), scopes: ["viewer"], expires_at: new Date(Date.now() + 700).toISOString() });
    expect((await t.call("GET", "/v1/reviews", { key })).status).toBe(200);
    await sleep(800);
    expect((await t.call("GET", "/v1/reviews", { key })).status).toBe(401);
  });
});

describe("rotation", () => {
  it("issues a new key; the old one works for the grace, then not; rotating twice is a 409", async () => {
    const first = await create({ name: uniqueName("rot"), scopes: ["agent"], rate_limit: { requests: 1000, window_seconds: 60 } });
    const rotated = await json(t.call("POST", `/v1/keys/${first.api_key.id}/rotate`, { key: t.keys.admin, body: { grace_seconds: 1 } }));
    expect(rotated.api_key).toMatchObject({
      name: first.api_key.name,
      scopes: ["agent"],
      rate_limit: { requests: 1000, window_seconds: 60 },
      rotated_from: first.api_key.id,
      state: "active",
    });
    expect(rotated.previous).toMatchObject({ id: first.api_key.id, state: "rotating", replaced_by: rotated.api_key.id });
    expect(JSON.stringify(rotated.previous)).not.toContain(first.key);
    expect((await t.call("GET", "/v1/messages/stats", { key: first.key })).status).toBe(200);
    expect((await t.call("GET", "/v1/messages/stats", { key: rotated.key })).status).toBe(200);
    expect((await t.call("POST", `/v1/keys/${first.api_key.id}/rotate`, { key: t.keys.admin, body: {} })).status).toBe(409);
    await sleep(1100);
    expect((await t.call("GET", "/v1/messages/stats", { key: first.key })).status).toBe(401);
    expect((await t.call("GET", "/v1/messages/stats", { key: rotated.key })).status).toBe(200);
  });
});

describe("revocation across instances", () => {
  it(`a key revoked through one instance is refused there at once and by the other within ${BOUND_MS} ms`, async () => {
    const b = secondInstance(t);
    const issued = await create({ name: uniqueName("leak"), scopes: ["agent"] });
    // A new key: accepted by the instance that made it at once, by the other within the bound.
    expect((await t.call("GET", "/v1/messages/stats", { key: issued.key })).status).toBe(200);
    await expect
      .poll(async () => (await b.call("GET", "/v1/messages/stats", { key: issued.key })).status, { timeout: BOUND_MS + 1000, interval: 50 })
      .toBe(200);
    // B checks it from its copy: no Postgres round trip.
    const rt = countRoundTrips(b.services);
    try {
      expect((await b.call("GET", "/v1/messages/stats", { key: issued.key })).status).toBe(200);
      expect(rt.postgres).toBe(0);
    } finally {
      rt.restore();
    }
    const before = Date.now();
    const revoked = await t.call("POST", `/v1/keys/${issued.api_key.id}/revoke`, { key: t.keys.admin });
    expect(revoked.status).toBe(200);
    expect((await json(revoked)).state).toBe("revoked");
    expect((await t.call("GET", "/v1/messages/stats", { key: issued.key })).status).toBe(401);
    // B refuses it by the bound at the latest, and from then on.
    const wait = before + BOUND_MS + 20 - Date.now();
    if (wait > 0) await sleep(wait);
    for (let i = 0; i < 5; i++) expect((await b.call("GET", "/v1/messages/stats", { key: issued.key })).status).toBe(401);
    // A repeated revoke is harmless: one revoke event.
    expect((await t.call("POST", `/v1/keys/${issued.api_key.id}/revoke`, { key: t.keys.admin })).status).toBe(200);
    const events = await sql("SELECT event FROM audit_log WHERE kind = 'key' AND key_id = $1 ORDER BY id", [issued.api_key.id]);
    expect(events.map((e) => e.event)).toEqual(["create", "revoke"]);
  });
});

describe("the key check's cost", () => {
  it("costs no store round trip on a warm instance, right or wrong; ingest keeps its budget", async () => {
    const bot = await create({ name: uniqueName("bot"), scopes: ["bot"] }, u);
    const ingest = (key: string) => u.call("POST", "/v1/messages", { key, body: { user_id: "cost-user", text: "hi" } });
    expect((await ingest(bot.key)).status).toBe(202);
    await u.services.keys.refresh();
    const rt = countRoundTrips(u.services);
    try {
      expect((await ingest(bot.key)).status).toBe(202);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      expect((await ingest(u.keys.bot)).status).toBe(202);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      expect((await ingest("hitl_wrong")).status).toBe(401);
      expect((await ingest(bot.key.slice(0, -1) + (bot.key.endsWith("A") ? "B" : "A"))).status).toBe(401);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 0, postgres: 0 });
    } finally {
      rt.restore();
    }
  });

  it("unknown keys fill nothing: the copy and the failure counters stay the same size", async () => {
    await u.services.keys.refresh();
    const dir = u.services.keys as unknown as { byHash: Map<string, unknown>; failures: Map<string, number> };
    const size = dir.byHash.size;
    for (let i = 0; i < 300; i++) await u.call("GET", "/v1/reviews", { key: `hitl_unknown_${i}` });
    expect(dir.byHash.size).toBe(size);
    expect(dir.failures.size).toBeLessThanOrEqual(1);
    expect(dir.failures.get("unknown")).toBe(300);
  });

  it("last use and failures are written by the next reload, one transaction, not per request", async () => {
    const { key, api_key } = await create({ name: uniqueName("used"), scopes: ["viewer"] }, u);
    await u.services.keys.refresh();
    await sqlOn(u, "DELETE FROM audit_log WHERE kind = 'auth_failure'");
    const rt = countRoundTrips(u.services);
    try {
      for (let i = 0; i < 20; i++) await u.call("GET", "/v1/messages/stats", { key });
      for (let i = 0; i < 50; i++) await u.call("GET", "/v1/messages/stats", { key: `hitl_bad_${i}` });
      for (let i = 0; i < 7; i++) await u.call("GET", "/v1/messages/stats");
      expect(rt.postgres).toBe(0);
      expect((await sqlOn(u, "SELECT last_used_at FROM api_keys WHERE id = $1", [api_key.id]))[0].last_used_at).toBeNull();
      await u.services.keys.refresh();
      expect(rt.postgres).toBe(1);
    } finally {
      rt.restore();
    }
    expect((await sqlOn(u, "SELECT last_used_at FROM api_keys WHERE id = $1", [api_key.id]))[0].last_used_at).not.toBeNull();
    const failures = await sqlOn(u, "SELECT event, count FROM audit_log WHERE kind = 'auth_failure' ORDER BY event");
    expect(failures).toEqual([
      { event: "missing", count: 7 },
      { event: "unknown", count: 50 },
    ]);
  });

  it("reloads in the background after half the bound, and waits for it only past the bound", async () => {
    await t.services.keys.refresh();
    const rt = countRoundTrips(t.services);
    try {
      await sleep(BOUND_MS / 2 + 50);
      expect((await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).status).toBe(200);
      await expect.poll(() => rt.postgres).toBe(1);
    } finally {
      rt.restore();
    }
  });
});

describe("per-key rate limits", () => {
  it("a key's own limit, set at creation, on the sliding window; other keys are not limited", async () => {
    const { key } = await create({ name: uniqueName("lim"), scopes: ["agent"], rate_limit: { requests: 3, window_seconds: 60 } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.call("GET", "/v1/messages/stats", { key })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    for (let i = 0; i < 5; i++) expect((await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).status).toBe(200);
  });
});

describe("audit", () => {
  it("records a mutating request (principal, route template, hashed user id, status, request id), never its body", async () => {
    const res = await t.call("PUT", "/v1/users/audited-user/nickname", {
      key: t.keys.reviewer,
      body: { nickname: "SecretNick" },
      headers: { "x-request-id": "audit-req-1" },
    });
    expect(res.status).toBe(200);
    const rows = await sql("SELECT * FROM audit_log WHERE request_id = 'audit-req-1'");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: "request",
      principal: "reviewer-key",
      method: "PUT",
      route: "/v1/users/{id}/nickname",
      status: 200,
    });
    expect(rows[0].resource_id).toBe(`user:${t.services.hasher.hash("audited-user")}`);
    expect(JSON.stringify(rows[0])).not.toMatch(/SecretNick|audited-user|hitl_/);
    // Refused for scope: recorded too; refused for the key: counted, not a row.
    await t.call("DELETE", "/v1/users/audited-user", { key: t.keys.viewer, headers: { "x-request-id": "audit-req-2" } });
    expect(await sql("SELECT status, principal FROM audit_log WHERE request_id = 'audit-req-2'")).toEqual([
      { status: 403, principal: "viewer-key" },
    ]);
    await t.call("DELETE", "/v1/users/audited-user", { key: "hitl_nope", headers: { "x-request-id": "audit-req-3" } });
    expect(await sql("SELECT 1 FROM audit_log WHERE request_id = 'audit-req-3'")).toHaveLength(0);
  });

  it("adds no round trip to a request that writes (its row rides in the write's transaction), none to ingest (a metric)", async () => {
    // The sender's protocol cached (ingest's own cold path reads Postgres once), the keys fresh.
    await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "aud-rt", text: "warm" } });
    await t.services.keys.refresh();
    const rt = countRoundTrips(t.services);
    try {
      const made = await t.call("POST", "/v1/interactions", {
        key: t.keys.agent,
        body: interactionBody({ user_id: "aud-rt" }),
        headers: { "x-request-id": "audit-rt-1" },
      });
      expect(made.status).toBe(201);
      // The interaction's own statement, its audit row in the same transaction.
      expect(rt.postgres).toBe(1);
      rt.reset();
      expect(
        (
          await t.call("POST", "/v1/messages", {
            key: t.keys.bot,
            body: { user_id: "aud-rt", text: "x" },
            headers: { "x-request-id": "audit-rt-2" },
          })
        ).status,
      ).toBe(202);
      expect(rt.postgres).toBe(0);
    } finally {
      rt.restore();
    }
    expect(await sql("SELECT route FROM audit_log WHERE request_id IN ('audit-rt-1', 'audit-rt-2')")).toEqual([
      { route: "/v1/interactions" },
    ]);
    const metrics = await (await t.call("GET", "/metrics", { key: t.keys.admin })).text();
    expect(metrics).toMatch(/http_requests_total\{method="POST",route="\/v1\/messages",status="202"\} \d+/);
  });

  it("a row written with its write holds the status answered: a replay (200, not 201) and a conflict found after the write are corrected", async () => {
    const body = interactionBody({ user_id: "aud-st", message_id: `aud-st-${randomUUID()}` });
    const first = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body, headers: { "x-request-id": "audit-st-1" } });
    expect(first.status).toBe(201);
    const id = ((await first.json()) as { id: string }).id;
    const rt = countRoundTrips(t.services);
    try {
      const again = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body, headers: { "x-request-id": "audit-st-2" } });
      expect(again.status).toBe(200);
      // The insert that found the twin (its audit row inside), the twin's lookup, the status correction.
      expect(rt.postgres).toBe(3);
    } finally {
      rt.restore();
    }
    expect(
      (await t.call("POST", `/v1/reviews/${id}/reject`, { key: t.keys.reviewer, headers: { "x-request-id": "audit-st-3" } })).status,
    ).toBe(200);
    const late = await t.call("POST", `/v1/reviews/${id}/approve`, {
      key: t.keys.reviewer,
      body: approveBody(),
      headers: { "x-request-id": "audit-st-4" },
    });
    expect(late.status).toBe(409);
    expect(await sql("SELECT request_id, status FROM audit_log WHERE request_id LIKE 'audit-st-%' ORDER BY request_id")).toEqual([
      { request_id: "audit-st-1", status: 201 },
      { request_id: "audit-st-2", status: 200 },
      { request_id: "audit-st-3", status: 200 },
      { request_id: "audit-st-4", status: 409 },
    ]);
  });

  it("a write that fails takes its ridden audit row with it: the request is recorded once, apart, with its status", async () => {
    // Postgres refuses this user's interaction mid-transaction (a trigger raising): write and row roll back.
    await sql(`CREATE FUNCTION aud_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.user_id = 'aud-fail' THEN RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$`);
    await sql("CREATE TRIGGER aud_refuse BEFORE INSERT ON interactions FOR EACH ROW EXECUTE FUNCTION aud_refuse()");
    try {
      const res = await t.call("POST", "/v1/interactions", {
        key: t.keys.agent,
        body: interactionBody({ user_id: "aud-fail" }),
        headers: { "x-request-id": "audit-fail-1" },
      });
      expect(res.status).toBe(500);
    } finally {
      await sql("DROP TRIGGER aud_refuse ON interactions");
      await sql("DROP FUNCTION aud_refuse()");
    }
    expect(await sql("SELECT 1 FROM interactions WHERE user_id = 'aud-fail'")).toHaveLength(0);
    expect(await sql("SELECT status FROM audit_log WHERE request_id = 'audit-fail-1'")).toEqual([{ status: 500 }]);
  });

  it("GET /v1/audit filters by principal, route, kind and time, pages, and is admin-only", async () => {
    const name = uniqueName("auditor");
    const { key, api_key } = await create({ name, scopes: ["reviewer"] });
    const start = new Date(Date.now() - 1000).toISOString();
    for (const u of ["a1", "a2", "a3"]) await t.call("PUT", `/v1/users/${u}/nickname`, { key, body: { nickname: "n" } });
    await t.call("PUT", "/v1/users/a1/status", { key, body: { customer_status: "LEAD_QUALIFIED" } });
    const mine = await json(t.call("GET", `/v1/audit?principal=${name}&kind=request`, { key: t.keys.admin }));
    expect(mine.items.map((i: any) => i.route)).toEqual([
      "/v1/users/{id}/status",
      "/v1/users/{id}/nickname",
      "/v1/users/{id}/nickname",
      "/v1/users/{id}/nickname",
    ]);
    expect(mine.items.every((i: any) => i.key_id === api_key.id && i.principal === name)).toBe(true);
    const page1 = await json(
      t.call(
        "GET",
        `/v1/audit?principal=${name}&route=${encodeURIComponent("/v1/users/{id}/nickname")}&limit=2&from=${encodeURIComponent(start)}`,
        { key: t.keys.admin },
      ),
    );
    expect(page1.items).toHaveLength(2);
    const page2 = await json(
      t.call(
        "GET",
        `/v1/audit?principal=${name}&route=${encodeURIComponent("/v1/users/{id}/nickname")}&limit=2&cursor=${page1.next_cursor}`,
        { key: t.keys.admin },
      ),
    );
    expect(page2.items).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    const none = await json(t.call("GET", `/v1/audit?principal=${name}&to=${encodeURIComponent(start)}`, { key: t.keys.admin }));
    expect(none.items).toEqual([]);
    const keyEvents = await json(t.call("GET", `/v1/audit?kind=key&principal=admin-key`, { key: t.keys.admin }));
    expect(keyEvents.items.some((i: any) => i.event === "create" && i.key_id === api_key.id)).toBe(true);
    expect((await t.call("GET", "/v1/audit", { key: t.keys.viewer })).status).toBe(403);
    expect((await t.call("GET", "/v1/audit?from=yesterday", { key: t.keys.admin })).status).toBe(400);
    expect((await t.call("GET", "/v1/audit?cursor=forged", { key: t.keys.admin })).status).toBe(400);
  });

  it("keeps 90 days: the prune deletes older rows only", async () => {
    await sql(
      "INSERT INTO audit_log (at, kind, principal, route) VALUES (now() - interval '91 days', 'request', 'old', '/x'), (now() - interval '89 days', 'request', 'recent', '/x')",
    );
    expect(await pruneAudit(t.services.db)).toBeGreaterThanOrEqual(1);
    expect((await sql("SELECT principal FROM audit_log WHERE route = '/x'")).map((r) => r.principal)).toEqual(["recent"]);
  });
});

describe("viewer", () => {
  it("reads reviews, interactions, dashboard, status and stats; no quarantined text, no memory, no writes", async () => {
    const v = t.keys.viewer;
    const made = await json(t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody() }));
    for (const path of [
      "/v1/reviews",
      `/v1/interactions/${made.id}`,
      "/v1/dashboard/metrics",
      "/v1/edit-taxonomy",
      "/v1/messages/stats",
      "/v1/protocol/stats",
      "/v1/memory/stats",
      "/v1/recovery/stats",
      "/v1/users/u1/status",
      "/v1/users/u1/memory/stats",
    ]) {
      expect([path, (await t.call("GET", path, { key: v })).status]).toEqual([path, 200]);
    }
    expect([200, 503]).toContain((await t.call("GET", "/status", { key: v })).status);
    for (const path of ["/v1/quarantine", "/v1/protocol/audit", "/v1/users/u1/memory", "/v1/keys", "/v1/audit", "/metrics"]) {
      expect([path, (await t.call("GET", path, { key: v })).status]).toEqual([path, 403]);
    }
    expect((await t.call("POST", `/v1/reviews/${made.id}/approve`, { key: v, body: approveBody() })).status).toBe(403);
  });
});

describe("per-route scope table", () => {
  const mark = (allowed: readonly Scope[] | "open", s: Scope) =>
    allowed === "open" ? "open" : s === "admin" || allowed.includes(s) ? "yes" : "-";

  it("README's table is the one the routes declare, and every route answers each scope accordingly", async () => {
    const decls = t.app.openAPIRegistry.definitions.flatMap((d) => (d.type === "route" ? [d.route] : []));
    const rows = decls.map((d) => {
      const scopes = ROUTE_SCOPES.get(routeKey(d.method, d.path));
      if (!scopes) throw new Error(`${d.method} ${d.path} declares no scopes`);
      return { method: d.method.toUpperCase(), path: d.path, scopes };
    });
    const table = [
      `| Method | Route | ${SCOPES.join(" | ")} |`,
      `|---|---|${SCOPES.map(() => "---").join("|")}|`,
      ...rows.map((r) => `| ${r.method} | \`${r.path}\` | ${SCOPES.map((s) => mark(r.scopes, s)).join(" | ")} |`),
    ].join("\n");
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const documented = /<!-- scope-table:start -->\n([\s\S]*?)\n<!-- scope-table:end -->/.exec(readme)?.[1];
    expect(documented, `README's scope table should be:\n${table}`).toBe(table);

    for (const r of rows) {
      const path = r.path.replaceAll(/\{[^}]+\}/g, "scope-probe");
      for (const s of SCOPES) {
        const res = await t.call(r.method, path, {
          key: t.keys[s],
          ...(["POST", "PUT", "PATCH"].includes(r.method) ? { body: { __probe: true } } : {}),
        });
        const refused = res.status === 403;
        expect([r.method, r.path, s, refused ? "refused" : "let through"]).toEqual([
          r.method,
          r.path,
          s,
          mark(r.scopes, s) === "-" ? "refused" : "let through",
        ]);
        expect(res.status).not.toBe(401);
      }
    }
  }, 60_000);
});

describe("npm run keys", () => {
  const lines: string[] = [];
  const deps = () => ({ db: t.services.db, reservedNames: ["admin-key"], maxAgeMs: 30_000, out: (l: string) => lines.push(l) });
  afterAll(() => {
    lines.length = 0;
  });

  it("creates (showing the key once), lists, rotates and revokes; bad arguments are usage errors", async () => {
    const name = uniqueName("cli");
    await keysCommand(
      ["create", "--name", name, "--scopes", "viewer,reviewer", "--expires-in", "30d", "--rate-limit", "100/60", "--by", "ops:test"],
      deps(),
    );
    const key = /^\s+(hitl_\S+)$/m.exec(lines.at(-1)!)![1]!;
    const id = /(key_[0-9a-f]{24})/.exec(lines.at(-1)!)![1]!;
    // Made outside the API: the instance knows it with its next reload (within the bound).
    await t.services.keys.refresh();
    expect((await t.call("GET", "/v1/reviews", { key })).status).toBe(200);
    lines.length = 0;
    await keysCommand(["list"], deps());
    expect(lines.join("\n")).toContain(id);
    expect(lines.join("\n")).not.toContain(key);
    await keysCommand(["list", "--json"], deps());
    expect(JSON.parse(lines.at(-1)!).find((k: any) => k.id === id)).toMatchObject({
      name,
      scopes: ["viewer", "reviewer"],
      rate_limit: { requests: 100, window_seconds: 60 },
      created_by: "ops:test",
    });
    await keysCommand(["rotate", id, "--grace-seconds", "0", "--by", "ops:test"], deps());
    const newKey = /^\s+(hitl_\S+)$/m.exec(lines.at(-1)!)![1]!;
    const newId = /(key_[0-9a-f]{24})/.exec(lines.at(-1)!)![1]!;
    expect(newKey).not.toBe(key);
    await t.services.keys.refresh();
    expect((await t.call("GET", "/v1/reviews", { key })).status).toBe(401);
    expect((await t.call("GET", "/v1/reviews", { key: newKey })).status).toBe(200);
    await keysCommand(["revoke", newId], deps());
    expect(lines.at(-1)).toMatch(/revoked at .*within 30 s/);
    await t.services.keys.refresh();
    expect((await t.call("GET", "/v1/reviews", { key: newKey })).status).toBe(401);
    const events = await sql("SELECT event, principal FROM audit_log WHERE kind = 'key' AND key_id = ANY($1) ORDER BY id", [[id, newId]]);
    expect(events.map((e) => e.event)).toEqual(["create", "rotate", "revoke"]);
    for (const argv of [
      [],
      ["frobnicate"],
      ["create", "--name", "x"],
      ["create", "--name", "x", "--scopes", "root"],
      ["create", "--name", "x", "--scopes", "bot", "--rate-limit", "lots"],
      ["revoke"],
      ["revoke", "nope"],
      ["rotate", id, "--grace-seconds", "-1"],
      ["list", "extra"],
    ]) {
      await expect(keysCommand(argv, deps()), argv.join(" ")).rejects.toBeInstanceOf(UsageError);
    }
    await expect(keysCommand(["create", "--name", "admin-key", "--scopes", "bot"], deps())).rejects.toMatchObject({ code: "conflict" });
  });
});
