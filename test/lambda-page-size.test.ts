import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ENVELOPE_PAGE_BUDGET, LAMBDA_RESPONSE_LIMIT } from "@hitl/core";
import { interactionBody } from "./support/fixtures.js";
import { envelopeSize, lambdaApi, type LambdaResult } from "./support/lambda.js";

/**
 * Finding 3 and 4 of issue 24: every list answer fits a buffered Lambda response (6 MB after the
 * body is escaped into the envelope), and no list query runs into Neon's 10 MiB answer. Each list
 * is filled with rows at their field limits, made of the characters that escape worst, and read
 * at its maximum limit through the real Lambda handler, page after page to the end.
 */

// Control characters (7 envelope bytes each, \b \t \n \f \r excepted: they escape shorter), a
// quote and a backslash (4 each), and a non-BMP character (4 bytes for 2 UTF-16 units).
const WORST_TEXT = '\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u000e\u000f\u0010\u0011\u0012\u0013\u0014"\\\u{1F600}';
/** `units` UTF-16 units (what zod's max counts) of the worst-escaping text. */
const worstText = (units: number) =>
  WORST_TEXT.repeat(Math.ceil(units / WORST_TEXT.length))
    .slice(0, units)
    .replace(/\uD83D$/, "\u0001");
/**
 * For fields bounded by their JSON size: a quote or a backslash is 2 bytes of that bound and 4 in
 * the envelope (a control character is 6 and 7), so these are mostly quotes and backslashes.
 */
const worstJsonValue = (jsonBytes: number) => {
  const unit = '"\\"\\"\\"\\\u0001\u{1F600}';
  let s = unit.repeat(Math.floor(jsonBytes / Buffer.byteLength(JSON.stringify(unit))));
  while (Buffer.byteLength(JSON.stringify(s)) > jsonBytes) s = s.slice(0, -unit.length);
  return s;
};
/** A JSON object of just under `bytes` bytes of JSON text. */
const worstObject = (bytes: number) => ({ v: worstJsonValue(bytes - 10) });

/** Reads a list to its end at `limit`, checking every page's Lambda response on the way. */
async function readAll(invoke: Awaited<ReturnType<typeof lambdaApi>>["invoke"], path: string, key: "reviewer" | "bot" | "admin" | "agent") {
  const ids: string[] = [];
  const items: Record<string, unknown>[] = [];
  const pageSizes: number[] = [];
  let cursor: string | null = null;
  let biggest = 0;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const res: LambdaResult = await invoke("GET", `${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`, { key });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    biggest = Math.max(biggest, envelopeSize(res));
    expect(envelopeSize(res)).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
    const body = JSON.parse(res.body) as { items: Record<string, unknown>[]; next_cursor: string | null };
    expect(body.items.length).toBeGreaterThan(0);
    pageSizes.push(body.items.length);
    ids.push(...body.items.map((i) => String(i.id ?? i.message_id)));
    items.push(...body.items);
    cursor = body.next_cursor;
  } while (cursor);
  return { ids, items, pageSizes, biggest };
}

describe("list answers fit a Lambda response (issue 24, findings 3 and 4)", () => {
  let api: Awaited<ReturnType<typeof lambdaApi>>;
  beforeAll(async () => {
    api = await lambdaApi();
  });

  it("GET /v1/reviews?limit=500 over rows at every field's limit: each page fits the envelope, the cursors reach every row", async () => {
    const created: string[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await api.invoke("POST", "/v1/interactions", {
        key: "agent",
        body: interactionBody({
          user_id: `size-${i % 3}`,
          user_message: worstText(4000),
          llm1_raw_response: worstText(20_000),
          llm2_bubbles: Array.from({ length: 20 }, () => worstText(4000)),
          llm1_model: worstText(100),
          llm2_model: worstText(100),
          constitution_flags: Array.from({ length: 50 }, () => worstText(100)),
          constitution_recommendation: "review",
          cta_data: worstObject(16 * 1024),
        }),
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
      created.push(JSON.parse(res.body).id as string);
      const notes = await api.invoke("PATCH", `/v1/interactions/${created.at(-1)}/notes`, {
        key: "reviewer",
        body: { reviewer_notes: worstText(1000) },
      });
      expect(notes.statusCode, notes.body.slice(0, 300)).toBe(200);
    }
    for (let u = 0; u < 3; u++) {
      const res = await api.invoke("PUT", `/v1/users/size-${u}/nickname`, { key: "reviewer", body: { nickname: `n${worstText(49)}` } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    }
    const { ids, pageSizes, biggest } = await readAll(api.invoke, "/v1/reviews?limit=500", "reviewer");
    expect(ids.sort()).toEqual([...created].sort());
    // The envelope, not the row count or the raw-byte budget, ended the pages.
    expect(pageSizes.length).toBeGreaterThan(2);
    expect(biggest).toBeGreaterThan(ENVELOPE_PAGE_BUDGET * 0.7);
  }, 120_000);

  it("GET /v1/quarantine?limit=500 over messages at the text limit: each page fits, the cursors reach every message", async () => {
    const user = "size-quarantined";
    expect((await api.invoke("PUT", `/v1/users/${user}/protocol`, { key: "reviewer", body: { status: "ACTIVE" } })).statusCode).toBe(200);
    let quarantined = 0;
    for (let b = 0; b < 10; b++) {
      const res = await api.invoke("POST", "/v1/messages", {
        key: "bot",
        body: {
          messages: Array.from({ length: 35 }, () => ({ user_id: user, text: worstText(4000), chat_id: 1 })),
        },
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(202);
      quarantined += (JSON.parse(res.body).items as { status: string }[]).filter((i) => i.status === "quarantined").length;
    }
    expect(quarantined).toBe(350);
    const { ids, pageSizes, biggest } = await readAll(api.invoke, "/v1/quarantine?limit=500", "reviewer");
    expect(new Set(ids).size).toBe(350);
    expect(pageSizes.length).toBeGreaterThan(1);
    expect(biggest).toBeGreaterThan(ENVELOPE_PAGE_BUDGET * 0.7);
  }, 120_000);

  it("GET /v1/recovery/operations?limit=500 with 64 KB of metadata and of error details on each: no 500, each page fits, every operation is reached", async () => {
    const created: string[] = [];
    for (let i = 0; i < 80; i++) {
      const res = await api.invoke("POST", "/v1/recovery/operations", {
        key: "bot",
        headers: { "idempotency-key": randomUUID() },
        body: { operation_type: "manual", metadata: worstObject(64 * 1024) },
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
      const id = JSON.parse(res.body).id as string;
      const patched = await api.invoke("PATCH", `/v1/recovery/operations/${id}`, {
        key: "bot",
        body: { status: "failed", errors_encountered: 1, error_details: worstObject(64 * 1024) },
      });
      expect(patched.statusCode, patched.body.slice(0, 300)).toBe(200);
      created.push(id);
    }
    const { ids, pageSizes } = await readAll(api.invoke, "/v1/recovery/operations?limit=500", "admin");
    expect(ids.sort()).toEqual([...created].sort());
    expect(pageSizes.length).toBeGreaterThan(1);
  }, 180_000);

  it("GET /v1/protocol/audit?limit=500 over audit rows with reasons at their limit: each page fits, the cursors reach every row", async () => {
    const users = Array.from({ length: 5 }, (_, u) => `audit-${u}`);
    for (const user of users) {
      const res = await api.invoke("PUT", `/v1/users/${user}/nickname`, { key: "reviewer", body: { nickname: `n${worstText(49)}` } });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    }
    for (let i = 0; i < 101; i++) {
      await Promise.all(
        users.map(async (user) => {
          const res = await api.invoke("PUT", `/v1/users/${user}/protocol`, {
            key: "reviewer",
            headers: { "idempotency-key": randomUUID() },
            body: { status: i % 2 ? "INACTIVE" : "ACTIVE", reason: worstText(500) },
          });
          expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
        }),
      );
    }
    const { ids, items, biggest } = await readAll(api.invoke, "/v1/protocol/audit?limit=500", "reviewer");
    expect(new Set(ids).size).toBe(ids.length);
    expect(items.filter((i) => String(i.user_id).startsWith("audit-"))).toHaveLength(505);
    expect(biggest).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
  }, 180_000);

  it("GET /v1/recovery/cursors?limit=500 over 501 cursors with user ids at their limit: fits, the cursor reaches the last one", async () => {
    const users = Array.from({ length: 501 }, (_, i) => `${String(i).padStart(3, "0")}${"-.:_".repeat(16)}`.slice(0, 64));
    for (let i = 0; i < users.length; i += 20) {
      await Promise.all(
        users.slice(i, i + 20).map(async (user) => {
          const res = await api.invoke("PUT", `/v1/recovery/cursors/${user}`, {
            key: "bot",
            body: { last_processed_telegram_id: 9_007_199_254_740_991, last_processed_telegram_date: new Date().toISOString() },
          });
          expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
        }),
      );
    }
    const pages: number[] = [];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: LambdaResult = await api.invoke(
        "GET",
        `/v1/recovery/cursors?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        { key: "admin" },
      );
      expect(res.statusCode).toBe(200);
      expect(envelopeSize(res)).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
      const body = JSON.parse(res.body) as { items: { user_id: string }[]; next_cursor: string | null };
      pages.push(body.items.length);
      seen.push(...body.items.map((c) => c.user_id));
      cursor = body.next_cursor;
    } while (cursor);
    expect(pages).toEqual([500, 1]);
    expect(seen.sort()).toEqual([...users].sort());
  }, 120_000);

  // Answers bounded by their field limits rather than paged: at their maximum they still fit.
  it("POST /v1/outbox/claim at max 50 over replies of 10 bubbles at the bubble limit fits, every claimed item in the answer", async () => {
    for (let i = 0; i < 50; i++) {
      const created = await api.invoke("POST", "/v1/interactions", { key: "agent", body: interactionBody({ user_id: `out-${i}` }) });
      const id = JSON.parse(created.body).id as string;
      const approved = await api.invoke("POST", `/v1/reviews/${id}/approve`, {
        key: "reviewer",
        body: {
          final_bubbles: Array.from({ length: 10 }, () => worstText(500)),
          quality_score: 3,
          reviewer_notes: worstText(1000),
          cta_data: worstObject(16 * 1024),
        },
      });
      expect(approved.statusCode, approved.body.slice(0, 300)).toBe(200);
    }
    const res = await api.invoke("POST", "/v1/outbox/claim", {
      key: "bot",
      body: { max: 50 },
      headers: { "idempotency-key": randomUUID() },
    });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).items).toHaveLength(50);
    expect(envelopeSize(res)).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
    expect(envelopeSize(res)).toBeGreaterThan(1_400_000); // the rows were at their limits
  }, 120_000);

  it("POST /v1/messages/claim at max 100 over messages at the text limit fits", async () => {
    for (let b = 0; b < 3; b++) {
      const res = await api.invoke("POST", "/v1/messages", {
        key: "bot",
        body: {
          messages: Array.from({ length: 34 }, (_, i) => ({
            user_id: `wal-${b}-${i}`,
            text: worstText(4000),
            chat_id: "@" + "c".repeat(31),
          })),
        },
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(202);
    }
    const res = await api.invoke("POST", "/v1/messages/claim", {
      key: "agent",
      body: { max: 100 },
      headers: { "idempotency-key": randomUUID() },
    });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).items).toHaveLength(100);
    expect(envelopeSize(res)).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
    expect(envelopeSize(res)).toBeGreaterThan(2_300_000); // the rows were at their limits
  }, 120_000);

  it("GET /v1/users/{id}/memory?recent=50 over a full window at the content and bubble limits and a context at its limit fits", async () => {
    const user = "mem-size";
    // Control characters only: for fields bounded in characters they escape worst (7 bytes each).
    const control = (n: number) => String.raw`\u0001`.repeat(n);
    const ctx = await api.invoke("PATCH", `/v1/users/${user}/memory/context`, { key: "agent", body: { updates: worstObject(99 * 1024) } });
    expect(ctx.statusCode, ctx.body.slice(0, 300)).toBe(200);
    expect(JSON.parse(ctx.body).compression_level).toBe(0);
    for (let i = 0; i < 50; i++) {
      const res = await api.invoke("POST", `/v1/users/${user}/memory/history`, {
        key: "agent",
        headers: { "idempotency-key": randomUUID() },
        body: `{"role":"assistant","content":"${control(8000)}","bubbles":[${Array.from({ length: 10 }, () => `"${control(500)}"`).join(",")}]}`,
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(201);
    }
    const res = await api.invoke("GET", `/v1/users/${user}/memory?recent=50`, { key: "agent" });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body).recent_messages).toHaveLength(50);
    expect(envelopeSize(res)).toBeLessThan(LAMBDA_RESPONSE_LIMIT);
    expect(envelopeSize(res)).toBeGreaterThan(4_500_000); // the rows were at their limits
  }, 120_000);
});
