import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { withPg } from "./support/backup.js";
import { seedInteractions } from "./support/analytics-seed.js";
import { countRoundTrips } from "./support/round-trips.js";
import { createHitlClient } from "@hitl/client";

describe("GET /v1/interactions: browse and search", () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext();
    await seedInteractions(t.databaseUrl, { n: 600, days: 40, users: 12, seed: 3 });
  }, 60_000);

  const list = async (qs: string) => {
    const res = await t.call("GET", `/v1/interactions?${qs}`, { key: t.keys.reviewer });
    expect(res.status, qs).toBe(200);
    return (await res.json()) as { items: any[]; next_cursor: string | null };
  };
  /** Every item of a query, page after page. */
  const all = async (qs: string, limit = 37) => {
    const items: any[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`${qs}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  };
  const sql = async (where: string, params: unknown[] = []) =>
    (await withPg(t.databaseUrl, (c) => c.query(`SELECT id FROM interactions WHERE ${where}`, params))).rows
      .map((r) => r.id as string)
      .sort();

  for (const [sort, key] of [
    ["created", (i: any) => i.created_at],
    ["priority", (i: any) => i.priority_score],
    ["quality", (i: any) => i.quality_score ?? 0],
    ["cost", (i: any) => i.total_cost_usd],
  ] as const) {
    for (const order of ["asc", "desc"] as const) {
      it(`pages sorted by ${sort} ${order} hold every matching row once, in order (keyset, no OFFSET)`, async () => {
        const items = await all(`review_status=approved&review_status=rejected&sort=${sort}&order=${order}`);
        expect(items.map((i) => i.id).sort()).toEqual(await sql("review_status IN ('approved','rejected')"));
        const keys = items.map(key);
        for (let i = 1; i < keys.length; i++)
          expect(order === "asc" ? keys[i] >= keys[i - 1] : keys[i] <= keys[i - 1], `${keys[i - 1]} then ${keys[i]}`).toBe(true);
      });
    }
  }

  it("each filter selects what SQL over the raw rows selects", async () => {
    const from = new Date(Date.now() - 20 * 86_400_000).toISOString();
    const cases: [string, string, unknown[]][] = [
      [`from=${from}`, "created_at >= $1", [from]],
      ["user_id=u3", "user_id = 'u3'", []],
      ["customer_status=CUSTOMER", "customer_status = 'CUSTOMER'", []],
      ["llm1_model=gemini-2.0-flash&llm2_model=claude-haiku", "llm1_model = 'gemini-2.0-flash' AND llm2_model = 'claude-haiku'", []],
      ["edit_tag=CTA_SOFT", "'CTA_SOFT' = ANY(edit_tags)", []],
      ["quality_min=2&quality_max=3", "quality_score BETWEEN 2 AND 3", []],
      ["cta_type=direct", "cta_data->>'type' = 'direct'", []],
      ["edited=true", "review_status = 'approved' AND final_bubbles IS DISTINCT FROM llm2_bubbles", []],
      ["edited=false&review_status=approved", "review_status = 'approved' AND final_bubbles = llm2_bubbles", []],
    ];
    for (const [qs, where, params] of cases) {
      const want = await sql(where, params);
      expect(want.length, qs).toBeGreaterThan(0);
      expect((await all(qs, 200)).map((i) => i.id).sort(), qs).toEqual(want);
    }
  });

  it("search is case- and accent-insensitive over the message, the draft and the final bubbles, and matches wildcards literally", async () => {
    const ids = (items: any[]) => items.map((i) => i.id).sort();
    expect(ids(await all("q=CANCION"))).toEqual(
      await sql(
        "user_message ILIKE '%canción%' OR array_to_string(llm2_bubbles, ' ') ILIKE '%canción%' OR array_to_string(final_bubbles, ' ') ILIKE '%canción%'",
      ),
    );
    expect((await all("q=arbol")).length).toBeGreaterThan(0);
    expect(ids(await all("q=árbol"))).toEqual(ids(await all("q=ARBOL")));
    // Only in the final bubbles ("edited", "reply"):
    expect(ids(await all("q=EDITED"))).toEqual(await sql("'edited' = ANY(final_bubbles)"));
    // % and _ are text, not wildcards:
    expect(ids(await all("q=100%25"))).toEqual(
      await sql("user_message LIKE '100\\%%' OR array_to_string(llm2_bubbles, ' ') LIKE '%100\\%%'"),
    );
    expect(ids(await all("q=n_e"))).toEqual([]); // as a wildcard it would match "under"
    expect((await all("q=under_score")).length).toBeGreaterThan(0);
  });

  it("the search is served by the trigram index on the folded text", async () => {
    await withPg(t.databaseUrl, async (c) => {
      await c.query("SET enable_seqscan = off");
      const plan = (
        await c.query(
          "EXPLAIN SELECT id FROM interactions WHERE hitl_search_text(user_message, llm2_bubbles, final_bubbles) LIKE '%' || hitl_fold('Canción') || '%'",
        )
      ).rows
        .map((r) => r["QUERY PLAN"])
        .join("\n");
      expect(plan).toMatch(/Bitmap Index Scan on interactions_\d{4}_\d{2}_hitl_search_text_idx|interactions_search/);
    });
  });

  it("one Postgres round trip per page, and a page stops at the byte budget", async () => {
    const rt = countRoundTrips(t.services);
    try {
      await list("limit=50&q=hola");
      expect([rt.postgres, rt.redis]).toEqual([1, 0]);
    } finally {
      rt.restore();
    }
    await withPg(t.databaseUrl, (c) => c.query("UPDATE interactions SET llm1_raw_response = repeat('x', 200000) WHERE user_id = 'u5'"));
    const page = await list("user_id=u5&limit=200");
    expect(page.items.length).toBeLessThan(10); // 1.5 MiB budget over ~200 KB rows
    expect(page.next_cursor).not.toBeNull();
  });

  it("bad input is a 400, never a 500: forged cursor, short search, unknown sort, bad status", async () => {
    for (const qs of [
      "cursor=abc",
      `cursor=${Buffer.from(JSON.stringify(["x", "y", "z"])).toString("base64url")}`,
      "q=ab",
      "sort=name",
      "review_status=done",
      "quality_min=9",
      "edited=maybe",
      "from=yesterday",
    ]) {
      const res = await t.call("GET", `/v1/interactions?${qs}`, { key: t.keys.reviewer });
      expect(res.status, qs).toBe(400);
      expect(((await res.json()) as any).error.code).toBe("invalid_request");
    }
    // A cursor of another sort is refused too (its first part is not that sort's type).
    const created = await list("limit=1");
    expect((await t.call("GET", `/v1/interactions?sort=quality&cursor=${created.next_cursor}`, { key: t.keys.reviewer })).status).toBe(400);
    expect((await t.call("GET", "/v1/interactions", { key: t.keys.agent })).status).toBe(403);
  });

  it("the typed client browses and reads reports by operationId", async () => {
    const client = createHitlClient({
      baseUrl: "http://api.local",
      apiKey: t.keys.reviewer,
      fetch: (r: Request) => Promise.resolve(t.app.fetch(r)),
    });
    const page = await client.browseInteractions({ params: { query: { q: "canción", sort: "quality", order: "asc", limit: 5 } } });
    expect(page.items.length).toBe(5);
    expect(page.items.every((i) => i.user_message.includes("canción") || i.llm2_bubbles.some((b) => b.includes("canción")))).toBe(true);
    const volume = await client.getVolumeReport({ params: { query: { tz: "Europe/Madrid" } } });
    expect(volume.by_day.length).toBe(30);
  });
});
