import type { StatusSnapshot } from "@hitl/core";

const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** An inline SVG sparkline (no scripts, no external resources). */
function sparkline(values: number[], label: string, unit: string, testId: string): string {
  const w = 360, h = 60, max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${((i / Math.max(1, values.length - 1)) * w).toFixed(1)},${(h - (v / max) * (h - 4) - 2).toFixed(1)}`).join(" ");
  const last = values[values.length - 1] ?? 0;
  return `<figure data-testid="${testId}"><figcaption>${esc(label)} <b>${esc(Math.round(last * 10) / 10)}</b> ${esc(unit)} <small>(max ${esc(Math.round(max * 10) / 10)})</small></figcaption>
<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(label)}"><polyline fill="none" stroke="#2563eb" stroke-width="2" points="${pts}"/></svg></figure>`;
}

const stat = (label: string, value: unknown, testId: string, tone = "") =>
  `<div class="stat ${tone}"><span>${esc(label)}</span><b data-testid="${testId}">${esc(value)}</b></div>`;

/** The status page: the figures the JSON endpoints report, for a person who would rather look than read. */
export function renderStatus(s: StatusSnapshot): string {
  const breaker = s.health.redis.breaker;
  const wal = s.wal;
  const reviews = s.reviews;
  const rows = (s.backups ?? []).map((b) => `<tr data-testid="backup-row"><td>${esc(b.kind)}</td><td>${esc(b.id)}</td><td>${esc(b.finished_at ?? "running")}</td>
<td>${b.complete ? "complete" : "incomplete"}</td><td class="${b.verified ? "ok" : "bad"}">${b.verified ? "verified" : "not verified"}</td><td>${esc(mb(b.bytes))}</td><td>${esc(b.objects)}</td></tr>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>HITL data layer status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;background:#fafafa}h1{font-size:20px}h2{font-size:15px;margin-top:24px}
.grid{display:flex;flex-wrap:wrap;gap:12px}.stat{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:140px}
.stat span{display:block;color:#555;font-size:12px}.stat b{font-size:22px}.ok{color:#15803d}.bad{color:#b91c1c}.warn{color:#b45309}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:8px;padding:8px}
</style></head><body>
<h1>HITL data layer <span data-testid="overall" class="${s.health.status === "ok" ? "ok" : "bad"}">${esc(s.health.status)}</span></h1>
${s.failing.length ? `<p class="bad" data-testid="failing" role="alert"><b>Unavailable: ${esc(s.failing.join(", "))}.</b> Parts of this page that need ${s.failing.length > 1 ? "them" : "it"} show n/a; the breakers retry after their cooldown.</p>` : ""}
<p>Generated <time data-testid="generated">${esc(s.generated_at)}</time>; refreshes every 30 s. Latency and throughput are this instance's.</p>
<h2>Stores</h2><div class="grid">
${stat("Postgres", s.health.postgres.ok ? `ok ${s.health.postgres.latency_ms} ms` : "down", "postgres", s.health.postgres.ok ? "ok" : "bad")}
${stat("Redis", s.health.redis.ok ? `ok ${s.health.redis.latency_ms} ms` : "down", "redis", s.health.redis.ok ? "ok" : "bad")}
${stat("Redis breaker", breaker, "breaker", breaker === "closed" ? "ok" : "bad")}
${stat("Postgres breaker", s.health.postgres.breaker, "pg-breaker", s.health.postgres.breaker === "closed" ? "ok" : "bad")}
${stat("Storage", s.health.storage.ok ? "ok" : "down", "storage", s.health.storage.ok ? "ok" : "bad")}
</div>
<h2>Message queue (WAL)</h2><div class="grid">
${stat("Pending", wal?.pending ?? "n/a", "wal-pending")}
${stat("In flight", wal?.in_flight ?? "n/a", "wal-in-flight")}
${stat("Dead letters", wal?.dead_letter ?? "n/a", "wal-dead", wal && wal.dead_letter > 0 ? "warn" : "")}
${stat("Oldest pending", wal?.oldest_pending_age_seconds === null || !wal ? "none" : `${wal.oldest_pending_age_seconds} s`, "wal-oldest")}
</div>
<h2>Reviews</h2><div class="grid">
${stat("Pending reviews", reviews?.pending ?? "n/a", "reviews-pending", reviews && reviews.pending > 150 ? "warn" : "")}
${stat("Being reviewed", reviews?.reviewing ?? "n/a", "reviews-reviewing")}
${stat("Approved, unsent", reviews?.approved_unsent ?? "n/a", "outbox")}
</div>
<h2>Last hour</h2><div class="grid">
${sparkline(s.timeline.map((t) => t.requests), "Requests per minute", "req/min", "chart-throughput")}
${sparkline(s.timeline.map((t) => t.avg_ms), "Average latency", "ms", "chart-latency")}
</div>
<h2>Backups</h2>
<table data-testid="backups"><thead><tr><th>kind</th><th>set</th><th>finished</th><th>state</th><th>verification</th><th>size</th><th>objects</th></tr></thead>
<tbody>${rows || `<tr><td colspan="7">${s.backups ? "no backups yet" : "n/a (Postgres unavailable)"}</td></tr>`}</tbody></table>
</body></html>`;
}
