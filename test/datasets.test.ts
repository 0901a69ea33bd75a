import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { useLocalNeonProxy, PoolDb } from "@hitl/core/postgres";
import { archivePartition, readArchive, type S3BlobStore } from "@hitl/core/backup";
import { ExportFilters, type ExportSource, type ExportSourceDeps, type ExportSourceFactory } from "../packages/core/src/exports/source.js";
import { chatFinetuneSource } from "../packages/core/src/exports/sources/chat-finetune.js";
import { preferencePairsSource } from "../packages/core/src/exports/sources/preference-pairs.js";
import { ArchivedDuringExportError, BATCH_ROWS, streamTurns } from "../packages/core/src/exports/sources/context.js";
import { draftChanged, joinBubbles, promptMessages, type ChatMessage } from "../packages/core/src/exports/sources/turns.js";
import { createTestContext, stack, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";

/**
 * The training datasets over a real Postgres (live months) and s3rver (archived months): every line
 * is checked against the JSON Schema in docs/datasets/ (Ajv, draft 2020-12), and against the lines
 * an independent reckoning of the seeded conversations expects.
 */

type Ajv = { compile(schema: unknown): ((data: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (o: object) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => void;
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTuples: false });
addFormats(ajv);
const schemaOf = (name: string) =>
  ajv.compile(JSON.parse(readFileSync(new URL(`../docs/datasets/${name}.schema.json`, import.meta.url), "utf8")));
const SCHEMAS = { chat_finetune: schemaOf("chat_finetune"), preference_pairs: schemaOf("preference_pairs") };

let t: TestContext;
let store: S3BlobStore;
let reader: PoolDb;
let deps: ExportSourceDeps;

/** A seeded interaction (what the reckoning below reads). */
interface Seed {
  id?: string;
  user: string;
  at: string;
  msg: string;
  draft: string[];
  final: string[] | null;
  status: "approved" | "rejected" | "pending";
  tags: string[];
  quality: number | null;
  m1: string;
  sent: boolean;
}
const seeds: Seed[] = [];
const DAY = 86_400_000;
const ago = (days: number, minutes = 0) => new Date(Date.now() - days * DAY + minutes * 60_000).toISOString();
const HOSTILE = "ü'; DROP TABLE interactions; -- \\ %_";
const ERASED = "carol";
const RETURNED = "dave";
const BULK = "bulk";
const BULK_ROWS = BATCH_ROWS * 2 + 37;

function seed(user: string, at: string, msg: string, o: Partial<Seed> = {}): Seed {
  const s: Seed = {
    user,
    at,
    msg,
    draft: [`draft for ${msg}`, "second bubble"],
    final: [`draft for ${msg}`, "second bubble"],
    status: "approved",
    tags: [],
    quality: 4,
    m1: "m-a",
    sent: true,
    ...o,
  };
  if (s.status !== "approved") s.final = null;
  seeds.push(s);
  return s;
}

async function insert(rows: Seed[]) {
  await withPg(t.databaseUrl, async (c) => {
    for (const s of rows) {
      const { rows: out } = await c.query(
        `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, llm2_bubbles, final_bubbles,
           review_status, edit_tags, quality_score, llm1_model, llm2_model, messages_sent_at, review_completed_at)
         VALUES ($1, $1 || '_c', $2, $3, $3, $4, $5, $6, $7, $8, $9, 'm2', CASE WHEN $10 THEN $3::timestamptz END,
           CASE WHEN $6 IN ('approved', 'rejected') THEN $3::timestamptz END) RETURNING id::text AS id`,
        [s.user, s.msg, s.at, s.draft, s.final, s.status, s.tags, s.status === "approved" ? s.quality : null, s.m1, s.sent],
      );
      s.id = out[0].id;
    }
  });
}

beforeAll(async () => {
  const b = await createTestBucket();
  store = b.store;
  t = await createTestContext({ S3_BUCKET: b.bucket });
  useLocalNeonProxy(stack().neonProxyUrl);
  reader = new PoolDb(t.databaseUrl);
  deps = { db: t.services.db, reader, store, hasher: t.services.hasher };
  await withPg(t.databaseUrl, (c) =>
    c.query(
      "SELECT hitl_ensure_interaction_partitions(date '2025-01-01', 2), hitl_ensure_interaction_partitions((now() - interval '70 days')::date, 4)",
    ),
  );
  // alice: two archived months, then live turns: unedited, edited, rejected, re-split only, pending, not yet sent.
  seed("alice", "2025-01-10T10:00:00Z", "a1 hello", { quality: 5 });
  seed("alice", "2025-01-20T10:00:00Z", "a2 what's up", { final: ["rewritten a2"], tags: ["CONTENT_REWRITE"], quality: 3 });
  seed("alice", "2025-02-05T10:00:00Z", "a3 rejected one", { status: "rejected" });
  seed("alice", ago(10), "a4 resplit", { draft: ["hi there", "ok"], final: ["hi", " there  ok"], tags: ["STRUCT_BUBBLE"] });
  seed("alice", ago(9), "a5 edited", { final: ["much better a5"], tags: ["TONE_CASUAL", "CTA_SOFT"], quality: 2, m1: "m-b" });
  seed("alice", ago(8), "a6 pending", { status: "pending" });
  seed("alice", ago(7), "a7 edited unsent", { final: ["a7 final"], tags: ["TONE_CASUAL"], quality: 5, sent: false });
  // bob: more turns than the default context.
  for (let i = 0; i < 8; i++)
    seed(
      "bob",
      ago(20, i),
      `b${i} message`,
      i % 2 ? { final: [`b${i} edited reply`], tags: ["CONTENT_EMOJI_ADD"], quality: 1 + (i % 5) } : {},
    );
  seed(HOSTILE, ago(6), 'h0 ünïcödé 🎉 "quoted" \\ back', { final: ["h0 edited ✓"], tags: ["ENGLISH_SLANG"] });
  seed(HOSTILE, ago(5), "h1 line\nbreak", { final: ["h1 edited"], tags: ["ENGLISH_SLANG", "TEXT_SPEAK"] });
  // carol is erased after her month is archived (the archive still holds her rows: its rewrite is the Archive job's).
  seed(ERASED, "2025-01-15T10:00:00Z", "c0 archived", { final: ["c0 edited"] });
  seed(ERASED, ago(4), "c1 live", { final: ["c1 edited"] });
  seed(RETURNED, ago(3), "d0 before erasure", { final: ["d0 edited"] });
  await insert(seeds);
  for (const p of ["interactions_2025_01", "interactions_2025_02"]) await archivePartition({ ...deps }, p);
  for (const u of [ERASED, RETURNED])
    expect((await t.call("DELETE", `/v1/users/${encodeURIComponent(u)}`, { key: t.keys.admin })).status).toBe(200);
  // dave writes again after his erasure: rows of an erased user id are never exported.
  await insert([seed(RETURNED, ago(1), "d1 after erasure", { final: ["d1 edited"] })]);
  // bulk: enough turns for several FETCH batches.
  const bulk: Seed[] = [];
  for (let i = 0; i < BULK_ROWS; i++)
    bulk.push(seed(BULK, ago(30, i), `k${i}`, i % 3 ? {} : { final: [`k${i} edited`], quality: 1 + (i % 5), tags: ["STRUCT_SHORTEN"] }));
  await insert(bulk);
});
afterAll(async () => {
  await reader?.end();
});

/** Every line of a source as the writer gives it (JSON text, internal fields dropped), with its user. */
async function run(factory: ExportSourceFactory, filters: ExportFilters = {}) {
  const source: ExportSource = factory(deps, ExportFilters.parse(filters));
  const lines: { line: Record<string, any>; user: string }[] = [];
  for await (const row of source.rows()) {
    const copy = JSON.parse(JSON.stringify(row)) as Record<string, any>;
    const user = copy.user_id as string;
    for (const f of source.internal ?? []) delete copy[f];
    lines.push({ line: copy, user });
  }
  return { source, lines };
}

/** The reckoning: which seeds are lines, and each one's messages, from the seed list alone. */
const erased = (s: Seed) => s.user === ERASED || s.user === RETURNED;
function expectedContext(s: Seed, n: number): Seed[] {
  const before = seeds.filter((o) => o.user === s.user && o.at < s.at).sort((a, b) => a.at.localeCompare(b.at));
  return n === 0 ? [] : before.slice(-n);
}
function expectedPrompt(s: Seed, n: number): ChatMessage[] {
  return promptMessages(
    expectedContext(s, n).map((c) => ({ user_message: c.msg, reply: c.status === "approved" ? c.final : null })),
    s.msg,
  );
}
function targets(f: ExportFilters = {}) {
  return seeds.filter(
    (s) =>
      s.status === "approved" &&
      !erased(s) &&
      (f.quality_min === undefined || (s.quality ?? 0) >= f.quality_min) &&
      (f.llm1_model === undefined || s.m1 === f.llm1_model) &&
      (f.edit_tags === undefined || f.edit_tags.every((tag) => s.tags.includes(tag))) &&
      (f.from === undefined || s.at >= f.from) &&
      (f.to === undefined || s.at < f.to) &&
      (f.user_id === undefined || s.user === f.user_id),
  );
}
const byId = (lines: { line: Record<string, any> }[]) => new Map(lines.map((l) => [l.line.metadata.interaction_id as string, l.line]));

function validAll(kind: keyof typeof SCHEMAS, lines: { line: unknown }[]) {
  for (const { line } of lines) {
    const ok = SCHEMAS[kind](line);
    expect(ok, JSON.stringify(SCHEMAS[kind].errors)).toBe(true);
  }
}

describe("chat_finetune", () => {
  it("gives one schema-valid line per approved interaction, the same user's earlier turns as context, archive boundary crossed", async () => {
    const { source, lines } = await run(chatFinetuneSource);
    expect(source.formats).toEqual(["ndjson"]);
    expect(source.columns).toBeNull();
    validAll("chat_finetune", lines);
    const want = targets();
    expect(lines.length).toBe(want.length);
    const got = byId(lines);
    for (const s of want) {
      const line = got.get(s.id!);
      expect(line, s.msg).toBeDefined();
      expect(line!.messages).toEqual([...expectedPrompt(s, 6), { role: "assistant", content: joinBubbles(s.final) }]);
      expect(line!.metadata).toMatchObject({
        created_at: new Date(s.at).toISOString(),
        quality_score: s.quality,
        edit_tags: s.tags,
        edited: draftChanged(s.draft, s.final),
        llm1_model: s.m1,
        llm2_model: "m2",
        sent: s.sent,
        context_turns: expectedContext(s, 6).length,
        bubbles: s.final!.length,
      });
    }
    // alice's first live turn: her three archived turns (two months back) come before it, the rejected one without a reply.
    const a4 = got.get(seeds.find((s) => s.msg === "a4 resplit")!.id!)!;
    expect(a4.messages).toEqual([
      { role: "user", content: "a1 hello" },
      { role: "assistant", content: "draft for a1 hello second bubble" },
      { role: "user", content: "a2 what's up" },
      { role: "assistant", content: "rewritten a2" },
      { role: "user", content: "a3 rejected one\na4 resplit" },
      { role: "assistant", content: "hi  there  ok" },
    ]);
    expect(a4.metadata.edited).toBe(false);
    // bob's last turn has the default 6 earlier turns, oldest first.
    const b7 = got.get(seeds.find((s) => s.msg === "b7 message")!.id!)!;
    expect(b7.metadata.context_turns).toBe(6);
    expect(b7.messages.filter((m: ChatMessage) => m.role === "user").map((m: ChatMessage) => m.content)).toEqual(
      ["b1", "b2", "b3", "b4", "b5", "b6", "b7"].map((b) => `${b} message`),
    );
    // Lines come user by user, each user's in time order.
    const users = lines.map((l) => l.user);
    expect(users).toEqual([...users].sort());
    for (const u of new Set(users)) {
      const times = lines.filter((l) => l.user === u).map((l) => l.line.metadata.created_at as string);
      expect(times).toEqual([...times].sort());
    }
    expect(lines.filter((l) => l.user === BULK).length).toBeGreaterThan(2 * BATCH_ROWS);
  });

  it("takes context_turns earlier turns (0: none)", async () => {
    for (const n of [0, 2, 50]) {
      const { lines } = await run(chatFinetuneSource, { context_turns: n, user_id: "bob" });
      validAll("chat_finetune", lines);
      expect(lines.length).toBe(8);
      for (const { line } of lines) {
        const s = seeds.find((x) => x.id === line.metadata.interaction_id)!;
        expect(line.metadata.context_turns).toBe(expectedContext(s, n).length);
        expect(line.messages.slice(0, -1)).toEqual(expectedPrompt(s, n));
      }
    }
  });

  it("never holds an erased user, live or archived, even before the archive is rewritten and after the user came back", async () => {
    // The archived month still holds carol's row (the Archive job has not rewritten it yet).
    const archived: string[] = [];
    await readArchive(store, "interactions_2025_01", (l) => void archived.push(JSON.parse(l).user_id));
    expect(archived).toContain(ERASED);
    const ids = new Set(seeds.filter(erased).map((s) => s.id));
    for (const factory of [chatFinetuneSource, preferencePairsSource]) {
      const { lines } = await run(factory);
      expect(lines.length).toBeGreaterThan(0);
      for (const { line, user } of lines) {
        expect([ERASED, RETURNED]).not.toContain(user);
        expect(ids.has(line.metadata.interaction_id)).toBe(false);
        expect(JSON.stringify(line)).not.toMatch(/c0 |c1 |d0 |d1 /);
      }
      for (const u of [ERASED, RETURNED]) expect((await run(factory, { user_id: u })).lines).toEqual([]);
    }
  });

  it("counts before streaming: exact over live months, an upper bound with archived months", async () => {
    const all = await run(chatFinetuneSource);
    expect(await all.source.count()).toBeGreaterThanOrEqual(all.lines.length);
    const live = { from: ago(60) };
    const recent = await run(chatFinetuneSource, live);
    // No archived month in range; the returned erased user's row is the one live row counted but never written.
    expect(await recent.source.count()).toBe(recent.lines.length + 1);
    expect(recent.lines.length).toBe(targets(live).length);
  });

  it("stops cleanly when the reader stops early, and runs again", async () => {
    const source = chatFinetuneSource(deps, {});
    let n = 0;
    for await (const _ of source.rows()) if (++n === 3) break;
    expect(n).toBe(3);
    expect((await run(chatFinetuneSource, { user_id: "bob" })).lines.length).toBe(8);
  });
});

describe("preference_pairs", () => {
  it("gives schema-valid pairs only where the reviewer changed the draft's text, with metadata", async () => {
    const { source, lines } = await run(preferencePairsSource);
    expect(source.internal).toEqual(["user_id"]);
    validAll("preference_pairs", lines);
    const want = targets().filter((s) => draftChanged(s.draft, s.final));
    expect(want.length).toBeLessThan(targets().length);
    expect(lines.map((l) => l.line.metadata.interaction_id).sort()).toEqual(want.map((s) => s.id).sort());
    const got = byId(lines);
    for (const s of want) {
      const line = got.get(s.id!)!;
      expect(line.prompt).toEqual(expectedPrompt(s, 6));
      expect(line.chosen).toEqual([{ role: "assistant", content: joinBubbles(s.final) }]);
      expect(line.rejected).toEqual([{ role: "assistant", content: joinBubbles(s.draft) }]);
      expect(line.metadata).toEqual({
        interaction_id: s.id,
        created_at: new Date(s.at).toISOString(),
        quality_score: s.quality,
        edit_tags: s.tags,
        llm1_model: s.m1,
        llm2_model: "m2",
        context_turns: expectedContext(s, 6).length,
      });
    }
    // The re-split reply (same words) is no pair, though its tag says STRUCT_BUBBLE; the archived edit is.
    expect([...got.values()].some((l) => l.chosen[0].content === "hi  there  ok")).toBe(false);
    expect([...got.values()].some((l) => l.chosen[0].content === "rewritten a2")).toBe(true);
    expect(await source.count()).toBeGreaterThanOrEqual(lines.length);
  });
});

describe("filters", () => {
  const cases: ExportFilters[] = [
    { quality_min: 4 },
    { edit_tags: ["TONE_CASUAL"] },
    { edit_tags: ["ENGLISH_SLANG", "TEXT_SPEAK"] },
    { llm1_model: "m-b" },
    { from: "2025-01-15T00:00:00Z", to: "2025-03-01T00:00:00Z" },
    { from: ago(15) },
    { user_id: HOSTILE },
    { user_id: "alice", quality_min: 3, to: ago(8.5) },
  ];
  for (const f of cases)
    it(`selects what ${JSON.stringify(f)} says, context unchanged`, async () => {
      for (const [factory, kind] of [
        [chatFinetuneSource, "chat_finetune"],
        [preferencePairsSource, "preference_pairs"],
      ] as const) {
        const { lines } = await run(factory, f);
        validAll(kind, lines);
        const want = targets(f).filter((s) => kind === "chat_finetune" || draftChanged(s.draft, s.final));
        expect(want.length).toBeGreaterThan(0);
        expect(lines.map((l) => l.line.metadata.interaction_id).sort()).toEqual(want.map((s) => s.id).sort());
        for (const { line } of lines) {
          const s = seeds.find((x) => x.id === line.metadata.interaction_id)!;
          expect(kind === "chat_finetune" ? line.messages.slice(0, -1) : line.prompt).toEqual(expectedPrompt(s, 6));
        }
      }
    });

  it("selects by customer status, quality ceiling and second model", async () => {
    expect((await run(chatFinetuneSource, { customer_status: ["CUSTOMER"] })).lines).toEqual([]);
    expect((await run(chatFinetuneSource, { customer_status: ["PROSPECT", "CUSTOMER"], user_id: "bob" })).lines.length).toBe(8);
    expect((await run(chatFinetuneSource, { llm2_model: "other" })).lines).toEqual([]);
    const low = await run(chatFinetuneSource, { quality_max: 2, user_id: "bob" });
    expect(low.lines.map((l) => l.line.metadata.interaction_id).sort()).toEqual(
      seeds
        .filter((s) => s.user === "bob" && (s.quality ?? 0) <= 2)
        .map((s) => s.id)
        .sort(),
    );
    expect(low.lines.length).toBeGreaterThan(0);
  });

  it("stops with the abort signal's reason", async () => {
    const ac = new AbortController();
    const read = async () => {
      for await (const _ of chatFinetuneSource(deps, {}).rows(ac.signal)) ac.abort(new Error("export cancelled"));
    };
    await expect(read()).rejects.toThrow("export cancelled");
  });

  it("selects nothing when review_status leaves out approved; approved alone changes nothing", async () => {
    expect((await run(chatFinetuneSource, { review_status: ["rejected", "pending"] })).lines).toEqual([]);
    expect((await run(chatFinetuneSource, { review_status: ["approved"], user_id: "bob" })).lines.length).toBe(8);
  });
});

describe("docs/DATASETS.md", () => {
  it("gives an example line of each dataset that its schema accepts", () => {
    const doc = readFileSync(new URL("../docs/DATASETS.md", import.meta.url), "utf8");
    for (const kind of ["chat_finetune", "preference_pairs"] as const) {
      const m = new RegExp(`<!-- example:${kind} -->\\n\`\`\`json\\n(.+)\\n\`\`\``).exec(doc);
      expect(m, kind).not.toBeNull();
      validAll(kind, [{ line: JSON.parse(m![1]!) }]);
    }
  });
});

describe("a month archived while an export reads", () => {
  it("fails the export (ArchivedDuringExportError) rather than leave its rows out; the next run has them", async () => {
    await withPg(t.databaseUrl, async (c) => {
      await c.query("SELECT hitl_ensure_interaction_partitions(date '2025-03-01', 1)");
      await c.query(
        `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, final_bubbles, review_status, quality_score)
        VALUES ('eve', 'eve_c', 'e0 march', '2025-03-03T10:00:00Z', '2025-03-03T10:00:00Z', '{"e0 reply"}', 'approved', 4)`,
      );
    });
    const read = async (afterList?: () => Promise<void>) => {
      const got: string[] = [];
      for await (const r of streamTurns(deps, { user_id: "eve" }, {}, undefined, afterList)) got.push(r.user_message);
      return got;
    };
    await expect(read(async () => void (await archivePartition({ ...deps }, "interactions_2025_03")))).rejects.toBeInstanceOf(
      ArchivedDuringExportError,
    );
    expect(await read()).toEqual(["e0 march"]);
  });
});
