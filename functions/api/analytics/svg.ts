/** Server-rendered SVG charts: no script, no external resource; each chart has labelled axes. */

export const esc = (v: unknown) => String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

export interface Series {
  label: string;
  value: number;
}

/** Vertical bars over time (one per day): the value scale on the left, the first and last day below. */
export function barChart(points: Series[], opts: { title: string; unit: string; xLabel: string; testId: string }): string {
  const w = 640,
    h = 200,
    left = 52,
    bottom = 34,
    top = 10,
    right = 10;
  const pw = w - left - right,
    ph = h - top - bottom;
  const max = Math.max(0, ...points.map((p) => p.value));
  const scale = max || 1;
  const bw = pw / Math.max(1, points.length);
  const bars = points
    .map((p, i) => {
      const bh = (p.value / scale) * ph;
      return `<rect x="${(left + i * bw + bw * 0.1).toFixed(1)}" y="${(top + ph - bh).toFixed(1)}" width="${Math.max(0.5, bw * 0.8).toFixed(1)}" height="${bh.toFixed(1)}" fill="#2563eb"><title>${esc(p.label)}: ${esc(fmt(p.value))}</title></rect>`;
    })
    .join("");
  return `<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(opts.title)}">
<line x1="${left}" y1="${top}" x2="${left}" y2="${top + ph}" stroke="#999"/><line x1="${left}" y1="${top + ph}" x2="${left + pw}" y2="${top + ph}" stroke="#999"/>
<text data-testid="${opts.testId}-ymax" x="${left - 4}" y="${top + 8}" text-anchor="end" font-size="10">${esc(fmt(max))}</text>
<text x="${left - 4}" y="${top + ph}" text-anchor="end" font-size="10">0</text>
<text x="10" y="${top + ph / 2}" font-size="10" transform="rotate(-90 10 ${top + ph / 2})" text-anchor="middle">${esc(opts.unit)}</text>
<text data-testid="${opts.testId}-xstart" x="${left}" y="${top + ph + 14}" font-size="10">${esc(points[0]?.label ?? "")}</text>
<text x="${left + pw}" y="${top + ph + 14}" font-size="10" text-anchor="end">${esc(points[points.length - 1]?.label ?? "")}</text>
<text x="${left + pw / 2}" y="${h - 4}" font-size="10" text-anchor="middle">${esc(opts.xLabel)}</text>
${bars}</svg>`;
}

/** Horizontal bars for categories: names on the left axis, values on the bottom axis. */
export function hbarChart(items: Series[], opts: { title: string; unit: string; testId: string }): string {
  const rowH = 22,
    left = 170,
    right = 60,
    top = 6,
    w = 640;
  const h = top + Math.max(1, items.length) * rowH + 28;
  const pw = w - left - right;
  const max = Math.max(0, ...items.map((p) => p.value)) || 1;
  const rows = items
    .map((p, i) => {
      const y = top + i * rowH;
      const bw = (p.value / max) * pw;
      return `<text x="${left - 6}" y="${y + 15}" text-anchor="end" font-size="11">${esc(p.label.length > 26 ? `${p.label.slice(0, 25)}…` : p.label)}</text>
<rect x="${left}" y="${y + 4}" width="${bw.toFixed(1)}" height="${rowH - 8}" fill="#0891b2"/><text x="${left + bw + 4}" y="${y + 15}" font-size="11">${esc(fmt(p.value))}</text>`;
    })
    .join("\n");
  const axisY = top + Math.max(1, items.length) * rowH;
  return `<svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(opts.title)}">
<line x1="${left}" y1="${top}" x2="${left}" y2="${axisY}" stroke="#999"/><line x1="${left}" y1="${axisY}" x2="${left + pw}" y2="${axisY}" stroke="#999"/>
<text x="${left}" y="${axisY + 12}" font-size="10">0</text><text data-testid="${opts.testId}-xmax" x="${left + pw}" y="${axisY + 12}" font-size="10" text-anchor="end">${esc(fmt(max))}</text>
<text x="${left + pw / 2}" y="${axisY + 24}" font-size="10" text-anchor="middle">${esc(opts.unit)}</text>
${rows || `<text x="${left + 8}" y="${top + 15}" font-size="11">no data in this range</text>`}</svg>`;
}

/** The figures of a chart as a table (the accessible reading of it). */
export function table(testId: string, caption: string, head: string[], rows: unknown[][]): string {
  const body = rows.length
    ? rows.map((r) => `<tr>${r.map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`).join("\n")
    : `<tr><td colspan="${head.length}">no data in this range</td></tr>`;
  return `<details><summary>${esc(caption)} (table)</summary><table data-testid="${testId}"><caption>${esc(caption)}</caption>
<thead><tr>${head.map((x) => `<th scope="col">${esc(x)}</th>`).join("")}</tr></thead><tbody>${body}</tbody></table></details>`;
}
