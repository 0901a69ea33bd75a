/** The Markdown API reference (docs/API.md), rendered from the OpenAPI document. */
type Schema = {
  $ref?: string;
  type?: string | string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  description?: string;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  additionalProperties?: boolean | Schema;
  nullable?: boolean;
  const?: unknown;
};
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema; description?: string }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}

const refName = (s?: Schema) => s?.$ref?.split("/").pop();
function typeOf(s?: Schema): string {
  if (!s) return "";
  const ref = refName(s);
  if (ref) return `[${ref}](#${ref.toLowerCase()})`;
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return alt.map(typeOf).join(" \\| ");
  if (s.type === "array") return `${typeOf(s.items)}[]`;
  if (Array.isArray(s.type)) return s.type.join(" \\| ");
  if (s.type === "object" && s.additionalProperties && typeof s.additionalProperties === "object")
    return `map of ${typeOf(s.additionalProperties)}`;
  return s.type ?? "any";
}
const cell = (t?: string) => (t ?? "").replace(/\n+/g, " ").replace(/\|/g, "\\|");

/** A field's limits, format and default, in words. */
function limits(s: Schema): string {
  const out: string[] = [];
  const range = (lo?: number, hi?: number, unit = "") =>
    lo !== undefined && hi !== undefined
      ? `${lo}..${hi}${unit}`
      : lo !== undefined
        ? `≥ ${lo}${unit}`
        : hi !== undefined
          ? `≤ ${hi}${unit}`
          : "";
  const len = range(s.minLength, s.maxLength, " chars");
  if (len) out.push(len);
  const num = range(s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum : undefined), s.maximum);
  if (num) out.push(s.exclusiveMinimum !== undefined && s.minimum === undefined ? num.replace("≥", ">") : num);
  const items = range(s.minItems, s.maxItems, " items");
  if (items) out.push(items);
  if (s.format) out.push(s.format);
  if (s.pattern) out.push(`pattern \`${s.pattern.replace(/\|/g, "\\|")}\``);
  if (s.default !== undefined) out.push(`default \`${JSON.stringify(s.default)}\``);
  return out.join("; ");
}

/** The object alternatives of a schema (an object, or a union of objects), refs resolved. */
function objectsOf(s: Schema | undefined, schemas: Record<string, Schema>): Schema[] {
  if (!s) return [];
  const ref = refName(s);
  if (ref) return schemas[ref] ? objectsOf(schemas[ref], schemas) : [];
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return alt.flatMap((a) => objectsOf(a, schemas));
  return s.type === "object" && s.properties ? [s] : [];
}

/** The rows of an object's fields, nested inline objects (and arrays of them) as dotted paths. */
function fieldRows(s: Schema, prefix = "", depth = 0): string[] {
  const rows: string[] = [];
  for (const [name, f] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}`;
    rows.push(
      `| \`${path}\` | ${typeOf(f)} | ${s.required?.includes(name) ? "yes" : "no"} | ${cell(limits(f))} | ${cell(f.description)} |`,
    );
    const inner = f.type === "array" ? f.items : f;
    if (depth < 3 && inner && !inner.$ref && inner.type === "object" && inner.properties)
      rows.push(...fieldRows(inner, `${path}${f.type === "array" ? "[]" : ""}.`, depth + 1));
  }
  return rows;
}
const FIELD_HEAD = ["| field | type | required | limits, default | description |", "|---|---|---|---|---|"];

/** A schema as the reader needs it: a link to a named schema, or its fields inline. */
function describe(s: Schema | undefined): string[] {
  if (!s) return [];
  if (refName(s)) return [`Schema: ${typeOf(s)}`, ""];
  const alt = s.anyOf ?? s.oneOf;
  if (alt) {
    return [
      "One of:",
      "",
      ...alt.flatMap((a, i) => [
        `${i + 1}. ${refName(a) ? typeOf(a) : a.type === "object" ? "an object:" : typeOf(a)}`,
        "",
        ...(refName(a) || a.type !== "object" ? [] : [...FIELD_HEAD, ...fieldRows(a), ""]),
      ]),
    ];
  }
  if (s.type === "object" && s.properties)
    return Object.keys(s.properties).length ? [...FIELD_HEAD, ...fieldRows(s), ""] : ["An empty object.", ""];
  return [`Type: ${typeOf(s)}${limits(s) ? ` (${limits(s)})` : ""}`, ""];
}

/** A plausible value for a schema (required fields only), for the curl examples. */
function example(s: Schema | undefined, schemas: Record<string, Schema>, depth = 0, name = ""): unknown {
  if (!s || depth > 4) return null;
  const ref = refName(s);
  if (ref) return example(schemas[ref], schemas, depth + 1);
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  const alt = s.anyOf ?? s.oneOf;
  if (alt) return example(alt[alt.length - 1], schemas, depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === "object") {
    const out: Record<string, unknown> = {};
    for (const field of s.required ?? []) out[field] = example(s.properties?.[field], schemas, depth + 1, field);
    return out;
  }
  if (type === "array") return [example(s.items, schemas, depth + 1)];
  if (type === "integer" || type === "number") return s.minimum ?? 1;
  if (type === "boolean") return true;
  if (s.format === "uuid") return "00000000-0000-4000-8000-000000000000";
  if (s.format === "date-time") return "2026-01-01T00:00:00Z";
  const text = name.endsWith("id") ? `${name.replace(/_?id$/, "") || "item"}-1` : "hello";
  return text.length >= (s.minLength ?? 0) ? text : "x".repeat(s.minLength ?? 1);
}

function curl(method: string, path: string, op: Operation, schemas: Record<string, Schema>): string[] {
  const url = path.replaceAll(/\{([^}]+)\}/g, (_m, p: string) => (p.includes("id") ? "user-1" : p));
  const lines = [`curl -sS -X ${method} "$API${url}"`];
  if (op.security?.length !== 0) lines.push(`  -H "Authorization: Bearer $KEY"`);
  const body = op.requestBody?.content?.["application/json"]?.schema;
  if (body) lines.push(`  -H 'content-type: application/json'`, `  -d '${JSON.stringify(example(body, schemas))}'`);
  return ["```sh", lines.join(" \\\n"), "```", ""];
}

export function renderReference(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; version: string; description?: string };
  const tags = (doc.tags ?? []) as { name: string; description?: string }[];
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const schemas = (doc.components as { schemas?: Record<string, Schema> })?.schemas ?? {};
  const ops = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );
  const out: string[] = [
    `# ${info.title} — API reference (v${info.version})`,
    "",
    "Generated from the OpenAPI document by `npm run openapi` (the same document the API serves at",
    "`/openapi.json`; a copy is in [openapi.json](openapi.json)). Do not edit by hand: a test fails when",
    "this file and the routes disagree.",
    "",
    info.description ?? "",
    "",
    "Every secured operation needs `Authorization: Bearer <key>` with one of the scopes it names",
    "(`admin` passes everywhere). The examples assume `API=http://127.0.0.1:8787` (`npm start`) and",
    "`KEY` set to a key with the scope (`npm start` prints the local admin key).",
    "",
    "## Errors",
    "",
    "Every error answers this shape ([Error](#error)):",
    "",
    ...FIELD_HEAD,
    ...fieldRows(schemas.Error ?? {}),
    "",
    '`code` is one of `invalid_request` (400; "invalid request body", "invalid path parameters", "invalid query" or',
    '"invalid headers", with `details`: `[{ in, path, message, code }]`, or malformed JSON), `unauthorized` (401),',
    "`forbidden` (403; the message and `details.required_scopes` name the scopes that would do), `not_found` (404),",
    "`method_not_allowed` (405, with `Allow`), `conflict` (409), `payload_too_large` (413), `unsupported_media_type` (415),",
    "`rate_limited` (429, with `Retry-After`), `unavailable` (503, with `Retry-After`; nothing was half-written), `internal` (500).",
    "",
    "## Operations",
    "",
  ];
  for (const tag of tags) {
    const tagged = ops.filter((o) => o.op.tags?.[0] === tag.name);
    out.push(`### ${tag.name}`, "", tag.description ?? "", "", "| operation | method and path | summary | answers |", "|---|---|---|---|");
    for (const { path, method, op } of tagged) {
      const answers = Object.keys(op.responses ?? {}).join(", ");
      out.push(`| [\`${op.operationId}\`](#${op.operationId?.toLowerCase()}) | \`${method} ${path}\` | ${cell(op.summary)} | ${answers} |`);
    }
    out.push("");
    // One example per group: its first operation that takes a body, else its first.
    const shown = tagged.find((o) => o.op.requestBody) ?? tagged[0];
    if (shown) out.push(`Example (\`${shown.op.operationId}\`):`, "", ...curl(shown.method, shown.path, shown.op, schemas));
  }
  out.push("## Operation details", "");
  for (const { path, method, op } of ops) {
    out.push(`### ${op.operationId}`, "", `\`${method} ${path}\`: ${cell(op.summary)}`, "");
    if (op.description) out.push(op.description.trim(), "");
    out.push(op.security && op.security.length === 0 ? "Open: no key needed." : "", "");
    const params = op.parameters ?? [];
    if (params.length) {
      out.push("| parameter | in | type | required | limits, default | description |", "|---|---|---|---|---|---|");
      for (const p of params)
        out.push(
          `| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${p.required ? "yes" : "no"} | ${cell(p.schema ? limits(p.schema) : "")} | ${cell(p.description ?? p.schema?.description)} |`,
        );
      out.push("");
    }
    const body = op.requestBody?.content?.["application/json"]?.schema;
    if (body)
      out.push(
        `**Request body** (${op.requestBody?.required ? "required" : "optional: an empty body takes the defaults"}):`,
        "",
        ...describe(body),
      );
    out.push("**Responses:**", "", "| status | meaning | body |", "|---|---|---|");
    const described: [string, Schema][] = [];
    for (const [status, r] of Object.entries(op.responses ?? {})) {
      const content = r.content && Object.entries(r.content)[0];
      const schema = content?.[0] === "application/json" ? content[1].schema : undefined;
      out.push(
        `| ${status} | ${cell(r.description)} | ${content ? (schema ? (refName(schema) || !objectsOf(schema, schemas).length ? typeOf(schema) : "below") : content[0]) : ""} |`,
      );
      if (schema && !refName(schema) && objectsOf(schema, schemas).length && Number(status) < 400) described.push([status, schema]);
    }
    out.push("");
    for (const [status, schema] of described) out.push(`${status} body:`, "", ...describe(schema));
  }
  out.push("## Schemas", "");
  for (const [name, s] of Object.entries(schemas)) {
    out.push(`### ${name}`, "", cell(s.description), "", ...describe({ ...s, description: undefined }));
  }
  return (
    out
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .trimEnd() + "\n"
  );
}
