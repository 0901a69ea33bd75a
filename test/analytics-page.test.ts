import { serve } from "@hono/node-server";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { signStatusLink } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { seedInteractions } from "./support/analytics-seed.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const utcDay = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

async function listen(t: TestContext) {
  const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`, close: () => server.close() };
}

// Needs Debian's chromium (.ci/run installs it); without it there is no browser to drive.
describe.skipIf(!existsSync(CHROMIUM))("analytics page in headless Chromium", () => {
  let browser: Browser;
  let t: TestContext;
  let app: { url: string; close: () => void };

  beforeAll(async () => {
    t = await createTestContext();
    await seedInteractions(t.databaseUrl, { n: 400, days: 20, users: 8, seed: 11 });
    await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin });
    app = await listen(t);
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
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    app?.close();
  });

  const open = async (base: string, path: string, key?: string) => {
    const page = await browser.newPage(key ? { extraHTTPHeaders: { authorization: `Bearer ${key}` } } : {});
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    const res = await page.goto(`${base}${path}`);
    return { page, res, problems, requests };
  };

  it("shows the reports' figures as SVG charts with labelled axes and as tables, loading nothing else", async () => {
    const range = `from=${utcDay(-14)}&to=${utcDay(0)}&tz=Europe/Madrid`;
    const { page, res, problems, requests } = await open(app.url, `/analytics?${range}`, t.keys.reviewer);
    expect(res?.status()).toBe(200);
    const volume = (await (await t.call("GET", `/v1/analytics/volume?${range}`, { key: t.keys.reviewer })).json()) as any;
    const quality = (await (await t.call("GET", `/v1/analytics/quality?${range}`, { key: t.keys.reviewer })).json()) as any;
    expect(volume.total).toBeGreaterThan(100);
    expect(await page.getByTestId("total-interactions").textContent()).toBe(String(volume.total));
    for (const id of ["chart-volume", "chart-quality", "chart-funnel", "chart-cost", "chart-tags", "chart-reviewers"]) {
      expect(await page.locator(`[data-testid=${id}] svg[role=img][aria-label]`).count(), id).toBe(1);
    }
    expect(await page.locator("[data-testid=chart-volume] rect").count()).toBe(15); // one bar per day
    expect(await page.getByTestId("chart-volume-xstart").textContent()).toBe(utcDay(-14));
    expect(Number(await page.getByTestId("chart-volume-ymax").textContent())).toBe(
      Math.max(...volume.by_day.map((d: any) => d.interactions)),
    );
    // The tables carry the same figures.
    const dayRows = await page.locator("[data-testid=table-volume] tbody tr").allTextContents();
    expect(dayRows.length).toBe(15);
    expect(dayRows[0]).toBe(`${volume.by_day[0].day}${volume.by_day[0].interactions}`);
    const qualityRows = await page.locator("[data-testid=table-quality] tbody tr").allTextContents();
    expect(qualityRows).toEqual(quality.histogram.map((b: any) => `${b.score}${b.count}`));
    expect(await page.locator("[data-testid=table-reviewers] tbody tr").count()).toBe(3);
    expect(await page.locator("table caption").count()).toBe(6);
    expect(await page.locator("script").count()).toBe(0);
    expect(requests.every((u) => u.startsWith(app.url))).toBe(true); // no CDN, nothing fetched but the page
    if (process.env.ANALYTICS_SCREENSHOT) await page.screenshot({ path: process.env.ANALYTICS_SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
  });

  it("the date-range picker changes the range (a signed link keeps working through it)", async () => {
    const link = signStatusLink(t.config.erasureHashKey);
    const { page, res } = await open(app.url, `/analytics?expires=${link.expires}&sig=${link.sig}`);
    expect(res?.status()).toBe(200);
    expect(await page.getByTestId("range").textContent()).toBe(`${utcDay(-29)} to ${utcDay(0)} (UTC)`);
    await page.fill("#from", utcDay(-6));
    await page.fill("#to", utcDay(-2));
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(await page.getByTestId("range").textContent()).toBe(`${utcDay(-6)} to ${utcDay(-2)} (UTC)`);
    expect(await page.locator("[data-testid=table-volume] tbody tr").count()).toBe(5);
    await page.fill("#tz", "Asia/Kolkata");
    const [nav] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(nav?.status()).toBe(400);
    expect(await page.getByTestId("error").textContent()).toContain("whole number of hours");
  });

  it("needs a reviewer or admin key, or a signed link", async () => {
    expect((await open(app.url, "/analytics")).res?.status()).toBe(401);
    expect((await open(app.url, "/analytics", t.keys.agent)).res?.status()).toBe(403);
    expect((await open(app.url, "/analytics", t.keys.admin)).res?.status()).toBe(200);
  });

  it("empty: a database without interactions shows zero figures and says so in every table", async () => {
    const empty = await createTestContext();
    const s = await listen(empty);
    try {
      const { page, res, problems } = await open(s.url, "/analytics", empty.keys.reviewer);
      expect(res?.status()).toBe(200);
      expect(await page.getByTestId("total-interactions").textContent()).toBe("0");
      expect(await page.getByTestId("rollups-as-of").textContent()).toBe("never (the rollup job has not run: only today is counted, live)");
      expect(await page.locator("[data-testid=chart-volume] rect").count()).toBe(30);
      expect(await page.locator("[data-testid=table-tags] tbody").textContent()).toBe("no data in this range");
      expect(problems).toEqual([]);
    } finally {
      s.close();
    }
  });

  it("with Postgres down, is still a page: 503, naming it", async () => {
    // Postgres unreachable: the Neon endpoint this instance talks to does not answer.
    const down = await createTestContext({ LOCAL_NEON_PROXY_URL: "http://127.0.0.1:9", PG_TIMEOUT_MS: "1000" });
    const s = await listen(down);
    try {
      const { page, res, problems } = await open(s.url, "/analytics", down.keys.reviewer);
      expect(res?.status()).toBe(503);
      expect(res?.headers()["content-type"]).toMatch(/^text\/html/);
      expect(await page.getByTestId("unavailable").textContent()).toContain("postgres");
      expect(await page.locator("#from").count()).toBe(1);
      // The browser's own note of the 503 is expected; no script error is.
      expect(problems.filter((p) => !p.startsWith("Failed to load resource"))).toEqual([]);
    } finally {
      s.close();
    }
  });

  it("with Redis down, answers from Postgres (the cache is optional)", async () => {
    const down = await createTestContext({ UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9", REDIS_TIMEOUT_MS: "200" });
    const s = await listen(down);
    try {
      const { page, res } = await open(s.url, "/analytics", down.keys.reviewer);
      expect(res?.status()).toBe(200);
      expect(await page.getByTestId("total-interactions").textContent()).toBe("0");
    } finally {
      s.close();
    }
  });
});
