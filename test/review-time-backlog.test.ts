import { beforeAll, describe, expect, it } from "vitest";
import { BACKLOG_SUSTAIN_SECONDS, backlogWarnings, measureBacklog, parseConfig, recordBacklogGauges } from "@hitl/core";
import { createTestContext, testEnv, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { approveBody, interactionBody } from "./support/fixtures.js";
import { handler as monitor } from "../functions/monitor.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext({ BACKLOG_WAL_THRESHOLD: "2", BACKLOG_REVIEW_THRESHOLD: "3", BACKLOG_OUTBOX_THRESHOLD: "1" });
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const create = async (user = "rt-user") =>
  (await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: user }) }))).id as string;
const post = (path: string, body?: unknown, key = t.keys.reviewer) => t.call("POST", path, { key, body });

describe("review time", () => {
  it("approved straight from pending: measured from when the item became reviewable (its creation), not 0", async () => {
    const id = await create();
    await sql("UPDATE interactions SET created_at = created_at - interval '30 seconds' WHERE id = $1", [id]);
    const done = await json(await post(`/v1/reviews/${id}/approve`, approveBody()));
    expect(done.review_time_seconds).toBeGreaterThanOrEqual(30);
    expect(done.review_time_seconds).toBeLessThan(40);
  });

  it("rejected from someone else's lapsed claim: measured from the lapse; from one's own claim: from the claim", async () => {
    const other = await create();
    await post(`/v1/reviews/${other}/start`);
    await sql(
      "UPDATE interactions SET review_started_at = now() - interval '600 seconds', review_lease_expires_at = now() - interval '20 seconds', reviewer_id = 'someone-else' WHERE id = $1",
      [other],
    );
    const rejected = await json(await post(`/v1/reviews/${other}/reject`, { reviewer_notes: "no" }));
    expect(rejected.review_time_seconds).toBeGreaterThanOrEqual(20);
    expect(rejected.review_time_seconds).toBeLessThan(30);
    const mine = await create();
    await post(`/v1/reviews/${mine}/start`);
    await sql("UPDATE interactions SET review_started_at = now() - interval '45 seconds' WHERE id = $1", [mine]);
    const approved = await json(await post(`/v1/reviews/${mine}/approve`, approveBody()));
    expect(approved.review_time_seconds).toBeGreaterThanOrEqual(45);
    expect(approved.review_time_seconds).toBeLessThan(55);
  });

  it("the dashboard average leaves out zeros (reviews recorded as instant)", async () => {
    const zero = await create();
    await post(`/v1/reviews/${zero}/approve`, approveBody());
    await sql("UPDATE interactions SET review_time_seconds = 0 WHERE id = $1", [zero]);
    const [{ avg }] = await sql(
      "SELECT round(avg(review_time_seconds)::numeric, 1)::float8 AS avg FROM interactions WHERE review_time_seconds > 0 AND review_completed_at >= now() - interval '7 days'",
    );
    await t.services.redis.client.del(t.services.redis.key("metrics", "dashboard"));
    const m = await json(await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer }));
    expect(avg).toBeGreaterThan(0);
    expect(m.avg_review_time_seconds).toBe(avg);
  });
});

describe("backlog alerts", () => {
  it("measures the three queues, sets the gauges the alarms watch, and /metrics exports them", async () => {
    await sql("DELETE FROM interactions");
    for (let i = 0; i < 4; i++) await create(`bl-${i}`);
    const approved = await create("bl-x");
    await post(`/v1/reviews/${approved}/approve`, approveBody());
    await t.call("POST", "/v1/messages", {
      key: t.keys.bot,
      body: { messages: [1, 2, 3].map((i) => ({ user_id: "bl-w", text: `m${i}` })) },
    });
    const levels = await measureBacklog(t.services);
    expect(levels).toEqual({ wal: 3, review_queue: 4, outbox_unsent: 1 });
    recordBacklogGauges(t.services.metrics, levels);
    const text = await (await t.call("GET", "/metrics", { key: t.keys.admin })).text();
    expect(text).toMatch(/^backlog_wal_pending 3$/m);
    expect(text).toMatch(/^backlog_review_queue 4$/m);
    expect(text).toMatch(/^backlog_outbox_unsent 1$/m);
  });

  it("warns on the status page when a queue is over its configured threshold, as an alarm once it has been for 5 minutes", async () => {
    // WAL 3 > 2 and reviews 4 > 3; the outbox (1) is not over 1.
    const page = await (await t.call("GET", "/status", { key: t.keys.admin })).text();
    expect(page).toContain('data-testid="backlog-wal"');
    expect(page).toContain('data-testid="backlog-review_queue"');
    expect(page).not.toContain('data-testid="backlog-outbox_unsent"');
    expect(page).toContain("alarm after 5 minutes");
    // Another observer (the monitor, another instance) agrees on when the episode began.
    const levels = await measureBacklog(t.services);
    const later = Date.now() + BACKLOG_SUSTAIN_SECONDS * 1000 + 1000;
    const warnings = await backlogWarnings(t.services.redis, levels, t.config.backlog, later);
    expect(warnings.map((w) => [w.queue, w.sustained])).toEqual([
      ["wal", true],
      ["review_queue", true],
    ]);
    // Back under: the episode ends and the next one starts afresh.
    const calm = await backlogWarnings(t.services.redis, { wal: 0, review_queue: 0, outbox_unsent: 0 }, t.config.backlog, later);
    expect(calm).toEqual([]);
    const again = await backlogWarnings(t.services.redis, levels, t.config.backlog, later + 1000);
    expect(again.every((w) => !w.sustained && w.over_since === later + 1000)).toBe(true);
  });

  it("the thresholds are settings with the reference's defaults", () => {
    const c = parseConfig(testEnv(t.databaseUrl, JSON.stringify([{ id: "k", scopes: ["admin"], sha256: "a".repeat(64) }])));
    expect(c.backlog).toEqual({ wal: 100, review_queue: 150, outbox_unsent: 50 });
    expect(t.config.backlog).toEqual({ wal: 2, review_queue: 3, outbox_unsent: 1 });
  });

  it("the monitor function measures, emits the gauges as EMF and reports the queues over threshold", async () => {
    const saved = { ...process.env };
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    Object.assign(
      process.env,
      testEnv(t.databaseUrl, JSON.stringify(t.config.apiKeys), {
        REDIS_PREFIX: t.config.redis.prefix,
        BACKLOG_WAL_THRESHOLD: "2",
        BACKLOG_REVIEW_THRESHOLD: "3",
      }),
    );
    process.stdout.write = ((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let out;
    try {
      out = await monitor();
    } finally {
      process.stdout.write = write;
      process.env = saved;
    }
    expect(out.levels).toEqual({ wal: 3, review_queue: 4, outbox_unsent: 1 });
    expect(out.warnings).toEqual(["wal", "review_queue"]);
    const emf = lines
      .join("")
      .split("\n")
      .filter((l) => l.includes("_aws"))
      .map((l) => JSON.parse(l));
    const values = Object.assign({}, ...emf);
    expect(values).toMatchObject({ backlog_wal_pending: 3, backlog_review_queue: 4, backlog_outbox_unsent: 1 });
  });
});
