import fc from "fast-check";
import { RESERVED_KEYS } from "@hitl/core";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
let id: string;
beforeAll(async () => {
  t = await createTestContext();
  id = ((await (await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody() })).json()) as { id: string }).id;
});

/** Every route that takes a body or a path parameter. */
const routes = (): [string, string][] => [
  ["POST", "/v1/messages"],
  ["POST", "/v1/messages/claim"],
  ["POST", "/v1/messages/ack"],
  ["POST", "/v1/interactions"],
  ["PATCH", `/v1/interactions/${id}/notes`],
  ["POST", "/v1/reviews/claim"],
  ["POST", `/v1/reviews/${id}/start`],
  ["POST", `/v1/reviews/${id}/approve`],
  ["POST", `/v1/reviews/${id}/reject`],
  ["POST", "/v1/outbox/claim"],
  ["POST", `/v1/outbox/${id}/sent`],
  ["PUT", "/v1/users/fz/status"],
  ["PUT", "/v1/users/fz/nickname"],
  ["PATCH", "/v1/users/fz/memory/context"],
  ["POST", "/v1/users/fz/memory/history"],
  ["PUT", "/v1/users/fz/protocol"],
  ["POST", "/v1/quarantine/batch"],
  ["POST", "/v1/quarantine/qx/process"],
  ["PUT", "/v1/recovery/cursors/fz"],
  ["POST", "/v1/recovery/operations"],
];

describe("bad input never gets a 500", () => {
  it("arbitrary JSON bodies on every route answer 2xx/4xx with the error shape", async () => {
    for (const [method, path] of routes()) {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (body) => {
          const res = await t.call(method, path, { key: t.keys.admin, body: JSON.stringify(body) });
          if (res.status >= 500)
            throw new Error(`${method} ${path} -> ${res.status} for ${JSON.stringify(body).slice(0, 200)}: ${await res.text()}`);
          if (res.status >= 400) expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^[a-z_]+$/);
        }),
        { numRuns: 25 },
      );
    }
  }, 120_000);

  it("arbitrary path parameters answer 4xx, not 500", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 80 }), async (raw) => {
        const seg = encodeURIComponent(raw);
        for (const [method, path] of [
          ["GET", `/v1/interactions/${seg}`],
          ["GET", `/v1/users/${seg}/status`],
          ["GET", `/v1/users/${seg}/memory`],
          ["DELETE", `/v1/quarantine/${seg}`],
          ["GET", `/v1/recovery/cursors/${seg}`],
          ["POST", `/v1/reviews/${seg}/cancel`],
        ] as const) {
          const res = await t.call(method, path, { key: t.keys.admin });
          if (res.status >= 500) throw new Error(`${method} ${path} -> ${res.status}: ${await res.text()}`);
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});

describe("values Postgres cannot store", () => {
  it("a NUL character answers 400 and writes nothing", async () => {
    const before = (await (await t.call("GET", "/v1/reviews", { key: t.keys.reviewer })).json()) as { items: unknown[] };
    const res = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_message: "bad \u0000 byte" }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_request");
    const after = (await (await t.call("GET", "/v1/reviews", { key: t.keys.reviewer })).json()) as { items: unknown[] };
    expect(after.items.length).toBe(before.items.length);
    expect(
      (await t.call("PATCH", "/v1/users/nul/memory/context", { key: t.keys.agent, body: { updates: { note: "a\u0000b" } } })).status,
    ).toBe(400);
    expect((await t.call("PUT", "/v1/users/nul/nickname", { key: t.keys.reviewer, body: { nickname: "n\u0000" } })).status).toBe(400);
    expect(((await (await t.call("GET", "/v1/users/nul/memory", { key: t.keys.agent })).json()) as { context: object }).context).toEqual(
      {},
    );
  });
});

describe("text is stored exactly or refused (issue 24, finding 7)", () => {
  const context = async (user: string) =>
    ((await (await t.call("GET", `/v1/users/${user}/memory`, { key: t.keys.agent })).json()) as { context: Record<string, unknown> })
      .context;

  it("any UTF-16 string: well-formed ones round-trip exactly, ones with a lone surrogate (or a reserved key) get 400 and write nothing", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "binary", maxLength: 12 }).filter((s) => !s.includes("\u0000")),
        async (s) => {
          const user = `fzs-${n++}`;
          // JSON.stringify writes a lone surrogate as a \u escape, a pair as the character itself.
          const res = await t.call("PATCH", `/v1/users/${user}/memory/context`, {
            key: t.keys.agent,
            body: JSON.stringify({ updates: { v: s, [s]: 1 } }),
          });
          // fast-check does try "__proto__" and friends: as keys they are refused too.
          const stored = !/[\uD800-\uDFFF]/u.test(s) && !RESERVED_KEYS.has(s);
          expect(res.status, `${JSON.stringify(s)}: ${await res.clone().text()}`).toBe(stored ? 200 : 400);
          expect(await context(user)).toEqual(stored ? { v: s, [s]: 1 } : {});
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it("any bytes in a body: strict UTF-8 round-trips exactly, anything else gets 400 invalid_encoding", async () => {
    // Non-ASCII only, so that JSON syntax does not depend on them: high bytes at random, or a code point's UTF-8.
    const piece = fc.oneof(
      fc.integer({ min: 0x80, max: 0xff }).map((b) => [b]),
      fc
        .integer({ min: 0x80, max: 0x10ffff })
        .filter((c) => c < 0xd800 || c > 0xdfff)
        .map((c) => [...Buffer.from(String.fromCodePoint(c))]),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 6 }), async (pieces) => {
        const user = `fzb-${n++}`;
        const bytes = Buffer.concat([Buffer.from('{"updates":{"v":"'), Buffer.from(pieces.flat()), Buffer.from('"}}')]);
        let decoded: string | null = null;
        try {
          decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch {
          /* invalid */
        }
        const res = await t.app.request(`/v1/users/${user}/memory/context`, {
          method: "PATCH",
          body: bytes,
          headers: { authorization: `Bearer ${t.keys.agent}`, "content-type": "application/json" },
        });
        if (decoded === null) {
          expect(res.status).toBe(400);
          expect(((await res.json()) as { error: { details: { code: string }[] } }).error.details[0]!.code).toBe("invalid_encoding");
          expect(await context(user)).toEqual({});
        } else {
          expect(res.status).toBe(200);
          expect(await context(user)).toEqual(JSON.parse(decoded).updates);
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
