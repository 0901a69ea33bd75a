import { serve } from "@hono/node-server";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { backupPostgres } from "@hitl/core/backup";
import { PoolDb } from "@hitl/core";
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
    await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { messages: Array.from({ length: 7 }, (_, i) => ({ user_id: `sp${i}`, text: `m${i}` })) } });
    await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 2 } });
    for (let i = 0; i < 3; i++) await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: `sp${i}` }) });
    const reader = new PoolDb(t.databaseUrl);
    await backupPostgres({ db: t.services.db, reader, store: b.store });
    await reader.end();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    close = () => server.close();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  });
  afterAll(async () => { await browser?.close(); close?.(); });

  it("loads with the figures the JSON endpoints report, and no console errors", async () => {
    const page = await browser.newPage({ extraHTTPHeaders: { authorization: `Bearer ${t.keys.admin}` } });
    const problems: string[] = [];
    page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
    page.on("pageerror", (e) => problems.push(e.message));
    const res = await page.goto(`${url}/status`);
    expect(res?.status()).toBe(200);
    const text = async (id: string) => (await page.getByTestId(id).textContent())?.trim();

    const wal = await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json() as any;
    const dash = await (await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer })).json() as any;
    const health = await (await t.call("GET", "/v1/health", { key: t.keys.admin })).json() as any;
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
    await page.screenshot({ path: "/tmp/hitl-status.png", fullPage: true });
    expect(problems).toEqual([]);
  });

  it("needs the admin key", async () => {
    const page = await browser.newPage({ extraHTTPHeaders: { authorization: `Bearer ${t.keys.reviewer}` } });
    expect((await page.goto(`${url}/status`))?.status()).toBe(403);
    const anonymous = await browser.newPage();
    expect((await anonymous.goto(`${url}/status`))?.status()).toBe(401);
  });
});
