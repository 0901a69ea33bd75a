import {
  ReportQuery,
  UnavailableError,
  reports,
  resolveRange,
  type Logger,
  type Report,
  type ReportRange,
  type Services,
} from "@hitl/core";
import { barChart, esc, hbarChart, table } from "./svg.js";

interface PageQuery {
  from?: string;
  to?: string;
  tz?: string;
  expires?: string;
  sig?: string;
}

type Figures = {
  volume: Report<"volume">;
  quality: Report<"quality">;
  funnel: Report<"funnel">;
  cost: Report<"cost">;
  tags: Report<"edit-tags">;
  reviewers: Report<"reviewers">;
};

/** The page's figures: the reports' own answers (cached like them), from one Redis round trip. */
async function figures(s: Services, r: ReportRange, log?: Logger): Promise<Figures> {
  const f = await reports({ db: s.db, redis: s.redis, log }, ["volume", "quality", "funnel", "cost", "edit-tags", "reviewers"], r);
  return { volume: f.volume, quality: f.quality, funnel: f.funnel, cost: f.cost, tags: f["edit-tags"], reviewers: f.reviewers };
}

/** GET /analytics: 200 with the charts, 400 with the picker and what is wrong, 503 when Postgres is down. */
export async function analyticsPage(s: Services, q: PageQuery, log?: Logger): Promise<{ status: 200 | 400 | 503; html: string }> {
  const parsed = ReportQuery.safeParse({ from: q.from || undefined, to: q.to || undefined, tz: q.tz || undefined });
  if (!parsed.success) {
    return {
      status: 400,
      html: layout(
        q,
        null,
        `<p role="alert" class="bad" data-testid="error">${esc(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "))}</p>`,
      ),
    };
  }
  const range = resolveRange(parsed.data);
  try {
    return { status: 200, html: layout(q, range, body(await figures(s, range, log))) };
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    return {
      status: 503,
      html: layout(
        q,
        range,
        `<p role="alert" class="bad" data-testid="unavailable"><b>Unavailable: ${esc(e.store ?? "a store")}.</b> The reports need it; try again shortly.</p>`,
      ),
    };
  }
}

const pct = (v: number | null) => (v === null ? "n/a" : `${(v * 100).toFixed(1)} %`);

function body(f: Figures): string {
  const days = f.volume.by_day.map((d) => ({ label: d.day, value: d.interactions }));
  const costDays = f.cost.by_day.map((d) => ({ label: d.day, value: d.cost_usd }));
  const topTags = f.tags.tags.slice(0, 10);
  return `<p>Rollups as of <time data-testid="rollups-as-of">${esc(f.volume.freshness.rollups_as_of ?? "never (the rollup job has not run: only today is counted, live)")}</time>${f.volume.freshness.live_from ? `; counted live from <time>${esc(f.volume.freshness.live_from)}</time>` : ""}. Figures are cached up to 5 minutes.</p>
<div class="grid"><div class="stat"><span>Interactions</span><b data-testid="total-interactions">${f.volume.total}</b></div>
<div class="stat"><span>Average quality</span><b data-testid="avg-quality">${esc(f.quality.average ?? "n/a")}</b></div>
<div class="stat"><span>Cost</span><b data-testid="total-cost">$${f.cost.total_usd.toFixed(4)}</b></div></div>
<section aria-labelledby="h-volume"><h2 id="h-volume">Volume by day</h2><figure data-testid="chart-volume">${barChart(days, { title: "Interactions per day", unit: "interactions", xLabel: "day", testId: "chart-volume" })}</figure>
${table(
  "table-volume",
  "Interactions per day",
  ["day", "interactions"],
  f.volume.by_day.map((d) => [d.day, d.interactions]),
)}</section>
<section aria-labelledby="h-quality"><h2 id="h-quality">Quality</h2><figure data-testid="chart-quality">${hbarChart(
    f.quality.histogram.map((b) => ({ label: `score ${b.score}`, value: b.count })),
    { title: "Quality score histogram", unit: "reviewed interactions", testId: "chart-quality" },
  )}</figure>
${table(
  "table-quality",
  "Quality histogram",
  ["score", "count"],
  f.quality.histogram.map((b) => [b.score, b.count]),
)}</section>
<section aria-labelledby="h-funnel"><h2 id="h-funnel">Customer funnel</h2><figure data-testid="chart-funnel">${hbarChart(
    f.funnel.stages.map((st) => ({ label: st.stage, value: st.users })),
    { title: "Customer funnel", unit: "users", testId: "chart-funnel" },
  )}</figure>
${table(
  "table-funnel",
  "Customer funnel",
  ["stage", "users", "from previous stage"],
  f.funnel.stages.map((st) => [st.stage, st.users, pct(st.rate_from_previous)]),
)}</section>
<section aria-labelledby="h-cost"><h2 id="h-cost">Cost by day</h2><figure data-testid="chart-cost">${barChart(costDays, { title: "Cost per day (USD)", unit: "USD", xLabel: "day", testId: "chart-cost" })}</figure>
${table(
  "table-cost",
  "Cost per day",
  ["day", "USD", "LLM1 USD", "LLM2 USD", "interactions"],
  f.cost.by_day.map((d) => [d.day, d.cost_usd, d.llm1_usd, d.llm2_usd, d.interactions]),
)}</section>
<section aria-labelledby="h-tags"><h2 id="h-tags">Top edit tags</h2><figure data-testid="chart-tags">${hbarChart(
    topTags.map((t) => ({ label: t.tag, value: t.count })),
    { title: "Top 10 edit tags", unit: "uses", testId: "chart-tags" },
  )}</figure>
${table(
  "table-tags",
  "Edit tags",
  ["tag", "uses", "avg quality", "avg review time (s)"],
  f.tags.tags.map((t) => [t.tag, t.count, t.avg_quality ?? "n/a", t.avg_review_time_seconds ?? "n/a"]),
)}</section>
<section aria-labelledby="h-reviewers"><h2 id="h-reviewers">Reviewer throughput</h2><figure data-testid="chart-reviewers">${hbarChart(
    f.reviewers.reviewers.slice(0, 15).map((v) => ({ label: v.reviewer_id, value: v.reviewed })),
    { title: "Items reviewed per reviewer", unit: "items reviewed", testId: "chart-reviewers" },
  )}</figure>
${table(
  "table-reviewers",
  "Reviewer throughput",
  ["reviewer", "reviewed", "approval rate", "avg review time (s)"],
  f.reviewers.reviewers.map((v) => [v.reviewer_id, v.reviewed, pct(v.approval_rate), v.avg_review_time_seconds ?? "n/a"]),
)}</section>`;
}

function layout(q: PageQuery, r: ReportRange | null, content: string): string {
  // A signed link's parameters ride along with the picker, so changing the range keeps the page open.
  const hidden =
    q.expires && q.sig
      ? `<input type="hidden" name="expires" value="${esc(q.expires)}"><input type="hidden" name="sig" value="${esc(q.sig)}">`
      : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>HITL analytics</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;background:#fafafa}h1{font-size:20px}h2{font-size:15px;margin-top:24px}
.grid{display:flex;flex-wrap:wrap;gap:12px}.stat{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:140px}
.stat span{display:block;color:#555;font-size:12px}.stat b{font-size:22px}.bad{color:#b91c1c}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:8px;padding:8px;display:inline-block}
form{display:flex;gap:8px;align-items:end;flex-wrap:wrap}label{display:flex;flex-direction:column;font-size:12px}
</style></head><body>
<h1>HITL analytics</h1>
<form method="get" action="/analytics" data-testid="range-form">
<label for="from">From<input id="from" name="from" type="date" value="${esc(r?.from ?? q.from ?? "")}"></label>
<label for="to">To<input id="to" name="to" type="date" value="${esc(r?.to ?? q.to ?? "")}"></label>
<label for="tz">Time zone<input id="tz" name="tz" value="${esc(r?.tz ?? q.tz ?? "UTC")}"></label>${hidden}
<button type="submit">Show</button></form>
${r ? `<p data-testid="range">${esc(r.from)} to ${esc(r.to)} (${esc(r.tz)})</p>` : ""}
${content}
</body></html>`;
}
