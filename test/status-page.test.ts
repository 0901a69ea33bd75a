import { serve } from "@hono/node-server";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { backupPostgres } from "@hitl/core/backup";
import { signStatusLink } from "@hitl/core";
import { PoolDb } from "@hitl/core/postgres";
import { createTestContext, type TestContext } from "./support/stack.js";
import { createTestBucket } from "./support/backup.js";
import { interactionBody } from "./support/fixtures.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// Needs Debian's chromium (.ci/run installs it); without it there is no browser to drive.
describe.skipIf(!existsSync(CHROMIUM))("status page in headless Chromium", () => {
  let t: TestContext;
  let browser: Browser;
  let url: string;
  let close: () => void;

  beforeAll(async () => {
    const b = await createTestBucket();
    t = await createTestContext({ S3_BUCKET: b.bucket });
    await t.call("POST", "/v1/messages", {
      key: t.keys.bot,
      body: { messages: Array.from({ length: 7 }, (_, i) => ({ user_id: `sp${i}`, text: `m${i}` })) },
    });
    await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 2 } });
    for (let i = 0; i < 3; i++)
      await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: `sp${i}` }) });
    const reader = new PoolDb(t.databaseUrl);
    await backupPostgres({ db: t.services.db, reader, store: b.store });
    await reader.end();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    close = () => server.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    close?.();
  });

  it("loads with the figures the JSON endpoints report, and no console errors", async () => {
    const page = await browser.newPage({ extraHTTPHeaders: { authorization: `Bearer ${t.keys.admin}` } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const res = await page.goto(`${url}/status`);
    expect(res?.status()).toBe(200);
    const text = async (id: string) => (await page.getByTestId(id).textContent())?.trim();

    const wal = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    const dash = (await (await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer })).json()) as any;
    const health = (await (await t.call("GET", "/v1/health", { key: t.keys.admin })).json()) as any;
    expect(await text("wal-pending")).toBe(String(wal.pending));
    expect(await text("wal-in-flight")).toBe(String(wal.in_flight));
    expect(await text("wal-dead")).toBe(String(wal.dead_letter));
    expect([wal.pending, wal.in_flight]).toEqual([5, 2]);
    expect(await text("reviews-pending")).toBe(String(dash.pending_reviews));
    expect(dash.pending_reviews).toBe(3);
    expect(await text("breaker")).toBe(health.redis.breaker);
    expect(await text("overall")).toBe(health.status);
    const backupRows = page.getByTestId("backup-row");
    expect(await backupRows.count()).toBe(1);
    expect(await backupRows.first().textContent()).toContain("verified");
    expect(await page.locator("[data-testid=chart-throughput] polyline").count()).toBe(1);
    expect(await page.locator("[data-testid=chart-latency] polyline").count()).toBe(1);
    // Labelled axes: a value scale and the time span.
    expect(await text("chart-throughput-xstart")).toBe("60 min ago");
    expect(Number(await text("chart-throughput-ymax"))).toBeGreaterThanOrEqual(1);
    // The hour's figures exclude the page's own requests: reloading does not add to them.
    const requests = Number(await text("hour-requests"));
    expect(requests).toBeGreaterThan(0);
    expect(await text("hour-p99")).toMatch(/^[\d.]+ ms$/);
    expect(await text("hour-error-rate")).toBe("0.00 %");
    await page.reload();
    expect(Number(await text("hour-requests"))).toBe(requests + 3);
    expect(await text("quarantined")).toBe("0");
    expect(await text("last-postgres")).toMatch(/^\d+ min ago \(alarm after 33 h\)$/);
    expect(await page.getByTestId("last-postgres").getAttribute("class")).toBeNull();
    expect(await page.locator(".stat.ok [data-testid=last-postgres]").count()).toBe(1);
    expect(await text("last-redis")).toBe("none yet (alarm after 7 h)");
    // A fresh install: no Redis set yet, and none due yet (the install is younger than the window).
    expect(await page.locator(".stat.ok [data-testid=last-redis]").count()).toBe(1);
    await t.services.db.query("UPDATE schema_migrations SET applied_at = now() - interval '8 hours'");
    await page.reload();
    expect(await page.locator(".stat.bad [data-testid=last-redis]").count()).toBe(1);
    expect(await page.locator(".stat.ok [data-testid=last-archive]").count()).toBe(1);
    // STATUS_SCREENSHOT=<file.png> keeps a picture of the page (nothing is written otherwise).
    if (process.env.STATUS_SCREENSHOT) await page.screenshot({ path: process.env.STATUS_SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
  });

  it("needs the admin key, or a signed link that has not expired", async () => {
    const page = await browser.newPage({ extraHTTPHeaders: { authorization: `Bearer ${t.keys.reviewer}` } });
    expect((await page.goto(`${url}/status`))?.status()).toBe(403);
    const anonymous = await browser.newPage();
    expect((await anonymous.goto(`${url}/status`))?.status()).toBe(401);
    const secret = t.config.erasureHashKey;
    const link = (l: { expires: number; sig: string }) => `${url}/status?expires=${l.expires}&sig=${l.sig}`;
    const ok = await anonymous.goto(link(signStatusLink(secret)));
    expect(ok?.status()).toBe(200);
    expect(ok?.headers()["referrer-policy"]).toBe("no-referrer");
    expect(await anonymous.getByTestId("overall").textContent()).toBe("ok");
    expect((await anonymous.goto(link(signStatusLink(secret, Date.now() - 16 * 60_000))))?.status()).toBe(401);
    expect((await anonymous.goto(link(signStatusLink("another-deployment's-key-0123456789abcdef"))))?.status()).toBe(401);
    const tampered = signStatusLink(secret);
    expect((await anonymous.goto(link({ ...tampered, expires: tampered.expires + 60 })))?.status()).toBe(401);
  });

  for (const [store, extra] of [
    ["redis", { UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9", REDIS_TIMEOUT_MS: "200" }],
    ["postgres", { DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:1/no_such_database", PG_TIMEOUT_MS: "1000" }],
  ] as const) {
    it(`with ${store} down, is still the page: it names ${store} and shows what it can`, async () => {
      const down = await createTestContext(extra);
      const server = serve({ fetch: down.app.fetch, port: 0, hostname: "127.0.0.1" });
      await new Promise((r) => server.once("listening", r));
      const addr = server.address();
      try {
        const page = await browser.newPage({ extraHTTPHeaders: { authorization: `Bearer ${down.keys.admin}` } });
        const problems: string[] = [];
        page.on("pageerror", (e) => problems.push(e.message));
        const res = await page.goto(`http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/status`);
        expect(res?.status()).toBe(503);
        expect(res?.headers()["content-type"]).toMatch(/^text\/html/);
        expect(await page.getByTestId("failing").textContent()).toContain(store);
        expect(await page.getByTestId(store).textContent()).toBe("down");
        const other = store === "redis" ? "reviews-pending" : "wal-pending";
        expect(await page.getByTestId(other).textContent()).toMatch(/^\d+$/);
        expect(await page.getByTestId(store === "redis" ? "wal-pending" : "reviews-pending").textContent()).toBe("n/a");
        expect(problems).toEqual([]);
      } finally {
        server.close();
      }
    });
  }
});
