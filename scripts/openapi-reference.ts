/** The Markdown API reference (docs/API.md), rendered from the OpenAPI document. */
type Schema = { $ref?: string; type?: string | string[]; items?: Schema; properties?: Record<string, Schema>; required?: string[]; description?: string; enum?: unknown[]; anyOf?: Schema[]; oneOf?: Schema[] };
interface Operation {
  operationId?: string; summary?: string; description?: string; tags?: string[]; security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema; description?: string }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

const refName = (s?: Schema) => s?.$ref?.split("/").pop();
function typeOf(s?: Schema): string {
  if (!s) return "";
  const ref = refName(s);
  if (ref) return `[${ref}](#${ref.toLowerCase()})`;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return alt.map(typeOf).join(" \\| ");
  if (s.type === "array") return `${typeOf(s.items)}[]`;
  if (Array.isArray(s.type)) return s.type.join(" \\| ");
  return s.type ?? "any";
}
const cell = (t?: string) => (t ?? "").replace(/\n+/g, " ").replace(/\|/g, "\\|");

export function renderReference(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; version: string; description?: string };
  const tags = (doc.tags ?? []) as { name: string; description?: string }[];
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const schemas = ((doc.components as { schemas?: Record<string, Schema> })?.schemas) ?? {};
  const ops = Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  const out: string[] = [
    `# ${info.title} — API reference (v${info.version})`, "",
    "Generated from the OpenAPI document by `npm run openapi` (the same document the API serves at",
    "`/openapi.json`; a copy is in [openapi.json](openapi.json)). Do not edit by hand: a test fails when",
    "this file and the routes disagree.", "",
    info.description ?? "", "",
    "Every error has the shape [Error](#error). Secured operations need `Authorization: Bearer <key>`",
    "with one of the scopes named; `admin` passes everywhere.", "",
    "## Operations", "",
  ];
  for (const tag of tags) {
    out.push(`### ${tag.name}`, "", tag.description ?? "", "", "| operation | method and path | summary | answers |", "|---|---|---|---|");
    for (const { path, method, op } of ops.filter((o) => o.op.tags?.[0] === tag.name)) {
      const answers = Object.keys(op.responses ?? {}).join(", ");
      out.push(`| \`${op.operationId}\` | \`${method} ${path}\` | ${cell(op.summary)} | ${answers} |`);
    }
    out.push("");
  }
  out.push("## Operation details", "");
  for (const { path, method, op } of ops) {
    out.push(`### \`${op.operationId}\`: ${method} ${path}`, "", cell(op.summary), "");
    if (op.description) out.push(op.description.trim(), "");
    out.push(op.security && op.security.length === 0 ? "Open: no key needed." : "", "");
    const params = op.parameters ?? [];
    if (params.length) {
      out.push("| parameter | in | type | required |", "|---|---|---|---|");
      for (const p of params) out.push(`| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${p.required ? "yes" : "no"} |`);
      out.push("");
    }
    const body = op.requestBody?.content?.["application/json"]?.schema;
    if (body) out.push(`Body (${op.requestBody?.required ? "required" : "optional"}): ${typeOf(body)}`, "");
    out.push("| status | meaning | body |", "|---|---|---|");
    for (const [status, r] of Object.entries(op.responses ?? {})) {
      const content = r.content && Object.entries(r.content)[0];
      out.push(`| ${status} | ${cell(r.description)} | ${content ? (content[0] === "application/json" ? typeOf(content[1].schema) : content[0]) : ""} |`);
    }
    out.push("");
  }
  out.push("## Schemas", "");
  for (const [name, s] of Object.entries(schemas)) {
    out.push(`### ${name}`, "", cell(s.description), "");
    if (s.properties) {
      out.push("| field | type | required |", "|---|---|---|");
      for (const [field, f] of Object.entries(s.properties)) out.push(`| \`${field}\` | ${typeOf(f)} | ${s.required?.includes(field) ? "yes" : "no"} |`);
      out.push("");
    } else out.push(`Type: ${typeOf(s)}`, "");
  }
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}
