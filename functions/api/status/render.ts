import type { StatusSnapshot } from "@hitl/core";

const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/**
 * An inline SVG line chart of the last hour (no scripts, no external resources), with its axes
 * labelled: the value scale on the left (0 and the maximum, in `unit`), time along the bottom.
 */
function chart(values: number[], label: string, unit: string, testId: string): string {
  const w = 420,
    h = 120,
    left = 44,
    bottom = 22,
    top = 8,
    right = 8;
  const pw = w - left - right,
    ph = h - top - bottom;
  const max = Math.max(1, ...values);
  const x = (i: number) => left + (i / Math.max(1, values.length - 1)) * pw;
  const y = (v: number) => top + ph - (v / max) * ph;
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const last = values[values.length - 1] ?? 0;
  const fmt = (v: number) => esc(Math.round(v * 10) / 10);
  return `<figure data-testid="${testId}"><figcaption>${esc(label)}: <b>${fmt(last)}</b> ${esc(unit)} this minute</figcaption>
<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(label)}, last 60 minutes">
<line x1="${left}" y1="${top}" x2="${left}" y2="${top + ph}" stroke="#999"/><line x1="${left}" y1="${top + ph}" x2="${left + pw}" y2="${top + ph}" stroke="#999"/>
<text data-testid="${testId}-ymax" x="${left - 4}" y="${top + 8}" text-anchor="end" font-size="10">${fmt(max)}</text>
<text x="${left - 4}" y="${top + ph}" text-anchor="end" font-size="10">0</text>
<text x="4" y="${top + ph / 2}" font-size="10" transform="rotate(-90 8 ${top + ph / 2})" text-anchor="middle">${esc(unit)}</text>
<text data-testid="${testId}-xstart" x="${left}" y="${h - 6}" font-size="10">60 min ago</text>
<text x="${left + pw / 2}" y="${h - 6}" font-size="10" text-anchor="middle">time (1 point per minute)</text>
<text x="${left + pw}" y="${h - 6}" font-size="10" text-anchor="end">now</text>
<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${pts}"/></svg></figure>`;
}

const BACKLOG_LABEL = {
  wal: "Message queue (WAL) backlog",
  review_queue: "Review queue backlog",
  outbox_unsent: "Unsent replies backlog",
} as const;
const hours = (h: number | null) => (h === null ? "none yet" : h < 1 ? `${Math.round(h * 60)} min` : `${h.toFixed(1)} h`);
const ms = (v: number | null) => (v === null ? "n/a" : `${Math.round(v * 10) / 10} ms`);

const stat = (label: string, value: unknown, testId: string, tone = "") =>
  `<div class="stat ${tone}"><span>${esc(label)}</span><b data-testid="${testId}">${esc(value)}</b></div>`;

/** The status page: the figures the JSON endpoints report, for a person who would rather look than read. */
export function renderStatus(s: StatusSnapshot): string {
  const breaker = s.health.redis.breaker;
  const wal = s.wal;
  const reviews = s.reviews;
  const rows = (s.backups ?? [])
    .map(
      (b) => `<tr data-testid="backup-row"><td>${esc(b.kind)}</td><td>${esc(b.id)}</td><td>${esc(b.finished_at ?? "running")}</td>
<td>${b.complete ? "complete" : "incomplete"}</td><td class="${b.verified ? "ok" : "bad"}">${b.verified ? "verified" : "not verified"}</td><td>${esc(mb(b.bytes))}</td><td>${esc(b.objects)}</td></tr>`,
    )
    .join("\n");
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
${s.backlog.warnings.map((w) => `<p class="${w.sustained ? "bad" : "warn"}" data-testid="backlog-${w.queue}" role="alert"><b>${esc(BACKLOG_LABEL[w.queue])}: ${esc(w.depth)}</b>, over its threshold of ${esc(w.threshold)} ${w.sustained ? `for ${esc(hours((Date.parse(s.generated_at) - w.over_since) / 3600_000))} (alarm)` : "(alarm after 5 minutes)"}.</p>`).join("\n")}
<p>Generated <time data-testid="generated">${esc(s.generated_at)}</time>; refreshes every 30 s. Latency and throughput are this instance's.</p>
<h2>Stores</h2><div class="grid">
${stat("Postgres", s.health.postgres.ok ? `ok ${s.health.postgres.latency_ms} ms` : "down", "postgres", s.health.postgres.ok ? "ok" : "bad")}
${stat("Redis", s.health.redis.ok ? `ok ${s.health.redis.latency_ms} ms` : "down", "redis", s.health.redis.ok ? "ok" : "bad")}
${stat("Redis breaker", breaker, "breaker", breaker === "closed" ? "ok" : "bad")}
${stat("Postgres breaker", s.health.postgres.breaker, "pg-breaker", s.health.postgres.breaker === "closed" ? "ok" : "bad")}
${stat("Storage", s.health.storage.ok ? "ok" : "down", "storage", s.health.storage.ok ? "ok" : "bad")}
</div>
<h2>Message queue (WAL)</h2><div class="grid">
${stat("Pending", wal?.pending ?? "n/a", "wal-pending", wal && wal.pending > s.backlog.thresholds.wal ? "warn" : "")}
${stat("In flight", wal?.in_flight ?? "n/a", "wal-in-flight")}
${stat("Dead letters", wal?.dead_letter ?? "n/a", "wal-dead", wal && wal.dead_letter > 0 ? "warn" : "")}
${stat("Oldest pending", !wal ? "n/a" : wal.oldest_pending_age_seconds === null ? "none" : `${wal.oldest_pending_age_seconds} s`, "wal-oldest")}
${stat("Quarantined", s.quarantined ?? "n/a", "quarantined")}
</div>
<h2>Reviews</h2><div class="grid">
${stat("Pending reviews", reviews?.pending ?? "n/a", "reviews-pending", reviews && reviews.pending > s.backlog.thresholds.review_queue ? "warn" : "")}
${stat("Being reviewed", reviews?.reviewing ?? "n/a", "reviews-reviewing")}
${stat("Approved, unsent", reviews?.approved_unsent ?? "n/a", "outbox", reviews && reviews.approved_unsent > s.backlog.thresholds.outbox_unsent ? "warn" : "")}
</div>
<h2>Last hour <small>(this instance; the page's own requests excluded)</small></h2><div class="grid">
${stat("Requests", s.hour.requests, "hour-requests")}
${stat("Error rate (5xx)", `${(s.hour.error_rate * 100).toFixed(2)} %`, "hour-error-rate", s.hour.error_rate > 0.01 ? "bad" : "")}
${stat("Latency p50", ms(s.hour.p50_ms), "hour-p50")}
${stat("Latency p95", ms(s.hour.p95_ms), "hour-p95")}
${stat("Latency p99", ms(s.hour.p99_ms), "hour-p99", (s.hour.p99_ms ?? 0) > 50 ? "warn" : "")}
</div><div class="grid">
${chart(
  s.timeline.map((t) => t.requests),
  "Requests per minute",
  "req/min",
  "chart-throughput",
)}
${chart(
  s.timeline.map((t) => t.max_ms),
  "Slowest request per minute",
  "ms",
  "chart-latency",
)}
</div>
<h2>Backups</h2><div class="grid">
${
  s.last_backups
    ? s.last_backups
        .map((b) =>
          stat(
            `Last verified ${b.kind}`,
            `${b.age_hours === null ? "none yet" : `${hours(b.age_hours)} ago`} (alarm after ${b.limit_hours} h)`,
            `last-${b.kind}`,
            b.overdue ? "bad" : "ok",
          ),
        )
        .join("\n")
    : stat("Last verified backups", "n/a (Postgres unavailable)", "last-backups")
}
</div>
<table data-testid="backups"><thead><tr><th>kind</th><th>set</th><th>finished</th><th>state</th><th>verification</th><th>size</th><th>objects</th></tr></thead>
<tbody>${rows || `<tr><td colspan="7">${s.backups ? "no backups yet" : "n/a (Postgres unavailable)"}</td></tr>`}</tbody></table>
</body></html>`;
}
