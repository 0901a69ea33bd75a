import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { apiDocument, renderArtifacts } from "../scripts/openapi-artifacts.js";

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        security?: unknown[];
        responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
        requestBody?: unknown;
        parameters?: { in: string }[];
      }
    >
  >;
  components: { schemas: Record<string, unknown> };
  tags: { name: string }[];
  servers: unknown[];
};
const doc = (await apiDocument()) as unknown as Doc;
const operations = Object.entries(doc.paths).flatMap(([p, methods]) =>
  Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${p}`, op })),
);

describe("the OpenAPI document", () => {
  it("passes Redocly's recommended ruleset with 0 errors and 0 warnings", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hitl-openapi-"));
    try {
      const file = path.join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(doc));
      let out: string;
      try {
        out = execFileSync(path.resolve("node_modules/.bin/redocly"), ["lint", file, "--format=json"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        });
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? "");
      }
      const result = JSON.parse(out.slice(out.indexOf("{"))) as {
        totals: { errors: number; warnings: number };
        problems: { ruleId: string; message: string }[];
      };
      expect(result.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
      expect(result.totals).toMatchObject({ errors: 0, warnings: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names every operation, declares its tags and servers, and marks the open routes open", () => {
    const ids = operations.map((o) => o.op.operationId);
    expect(ids.every(Boolean)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.servers.length).toBeGreaterThan(0);
    const declared = new Set(doc.tags.map((t) => t.name));
    for (const { id, op } of operations)
      for (const t of (op as { tags?: string[] }).tags ?? []) expect(declared.has(t), `${id} tag ${t}`).toBe(true);
    const open = operations
      .filter((o) => o.op.security?.length === 0)
      .map((o) => o.id)
      .sort();
    expect(open).toEqual(["GET /health", "GET /openapi.json"]);
  });

  it("declares every status a route can answer, with the error schema", () => {
    const isError = (r: { content?: Record<string, { schema?: { $ref?: string } }> }) =>
      r.content?.["application/json"]?.schema?.$ref === "#/components/schemas/Error";
    for (const { id, op } of operations) {
      const statuses = Object.keys(op.responses);
      expect(statuses, id).toContain("413");
      if (op.security?.length === 0) continue;
      for (const s of ["401", "403", "429", "503"]) expect(statuses, `${id} ${s}`).toContain(s);
      if (op.requestBody) expect(statuses, `${id} 415`).toContain("415");
      if (op.parameters?.some((p) => p.in === "path")) expect(statuses, `${id} 404`).toContain("404");
      // An HTML page (status, analytics) answers its errors as HTML, and the health report its own body when degraded.
      const html = (s: string) => Boolean((op.responses[s] as { content?: Record<string, unknown> }).content?.["text/html"]);
      for (const s of statuses.filter(
        (x) => Number(x) >= 400 && id !== "GET /status" && !html(x) && !(id === "GET /v1/health" && x === "503"),
      ))
        expect(isError(op.responses[s]!), `${id} ${s}`).toBe(true);
    }
  });

  it("has named component schemas for the entities", () => {
    for (const name of [
      "Message",
      "ClaimedMessage",
      "Interaction",
      "ReviewItem",
      "OutboxItem",
      "UserStatus",
      "Protocol",
      "QuarantineItem",
      "Memory",
      "Cursor",
      "RecoveryOperation",
      "BackupSet",
      "Error",
      "HealthReport",
    ])
      expect(Object.keys(doc.components.schemas), name).toContain(name);
  });

  it("docs/openapi.json, docs/API.md and the client's schema are generated from the routes as they are (npm run openapi)", async () => {
    for (const [file, text] of Object.entries(await renderArtifacts()))
      expect(readFileSync(file, "utf8"), `${file} is stale: run npm run openapi`).toBe(text);
  });
});

describe("docs/API.md", () => {
  const md = readFileSync("docs/API.md", "utf8");
  it("shows every request body's fields (never a bare object), the error schema's fields and a curl example per route group", () => {
    expect(md).not.toMatch(/Body \((required|optional)\): object/);
    for (const { id, op } of operations) {
      const section = md.split(`### ${op.operationId}\n`)[1]?.split("\n### ")[0] ?? "";
      expect(section, id).toContain(id.split(" ")[1]);
      if (op.requestBody)
        expect(section, `${id} body`).toMatch(
          /\*\*Request body\*\*[\s\S]*\| field \| type \| required \| limits, default|\*\*Request body\*\*[\s\S]*Schema: \[/,
        );
    }
    for (const field of ["error.code", "error.message", "error.details"]) expect(md).toContain(`\`${field}\``);
    for (const tag of doc.tags)
      expect(md.split(`### ${tag.name}\n`)[1]?.split("\n### ")[0], tag.name).toMatch(/```sh\ncurl -sS -X [A-Z]+ "\$API\//);
    // Limits and defaults are there: the claim's max and lease.
    expect(md).toMatch(/\| `max` \| integer \| no \| 1\.\.100; default `10` \|/);
  });
});

describe("the README's conversation turn", () => {
  it("is the type-checked example (packages/client/examples/turn.ts), line for line", () => {
    const example = readFileSync("packages/client/examples/turn.ts", "utf8").split("// README:begin\n")[1]!.split("  // README:end")[0]!;
    const lines = example
      .trimEnd()
      .split("\n")
      .map((l) => l.replace(/^ {2}/, ""));
    expect(readFileSync("README.md", "utf8")).toContain(lines.join("\n"));
  });
});
