import pg from "pg";

/** A deterministic PRNG (mulberry32): the same seed, the same data. */
export function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SEED_TAGS = ["TONE_CASUAL", "STRUCT_SHORTEN", "CONTENT_EMOJI_ADD", "CTA_SOFT", "CTA_DIRECT", "TEXT_SPEAK"];
export const SEED_MESSAGES = [
  "hola, ¿qué tal?",
  "Quiero una canción para mi café",
  "send me the price",
  "ÁRBOL grande y bonito",
  "100% seguro",
  "under_score here",
  "just chatting",
];
const MODELS = [
  ["gemini-2.0-flash", "gpt-4o-mini"],
  ["gemini-2.0-flash", "claude-haiku"],
  [null, null],
] as const;

/**
 * Inserts `n` interactions spread over the last `days` days (partitions created as needed), with
 * every field the reports read varied: statuses, reviewers, tags, quality, review times, costs,
 * models, CTA types and responses, customer statuses. Returns nothing: tests recount from the table.
 */
export async function seedInteractions(
  url: string,
  opts: { n: number; days: number; users: number; seed?: number; now?: Date },
): Promise<void> {
  const rnd = prng(opts.seed ?? 7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const now = (opts.now ?? new Date()).getTime();
  const cols: Record<string, unknown[]> = {};
  const push = (k: string, v: unknown) => (cols[k] ??= []).push(v);
  for (let i = 0; i < opts.n; i++) {
    // Never in the current UTC hour's future, never today (tests add today's rows through the API).
    const created = new Date(now - 86_400_000 - Math.floor(rnd() * (opts.days - 1) * 86_400_000));
    const status = pick(["pending", "approved", "approved", "approved", "rejected", "reviewing"]);
    const reviewed = status === "approved" || status === "rejected";
    const draft = [pick(SEED_MESSAGES), "second bubble"];
    const [m1, m2] = pick(MODELS);
    const tags = status === "approved" ? SEED_TAGS.filter(() => rnd() < 0.3) : [];
    push("user_id", `u${Math.floor(rnd() * opts.users)}`);
    push("user_message", pick(SEED_MESSAGES));
    push("created_at", created.toISOString());
    push("llm1_model", m1);
    push("llm2_model", m2);
    push("llm1_cost_usd", (Math.floor(rnd() * 500) / 1e6).toFixed(6));
    push("llm2_cost_usd", (Math.floor(rnd() * 900) / 1e6).toFixed(6));
    push("llm2_bubbles", draft);
    push("review_status", status);
    push("reviewer_id", status === "pending" ? null : pick(["rev-a", "rev-b", "rev-ç"]));
    push("review_time_seconds", reviewed ? Math.floor(rnd() * rnd() * 4000) : null);
    push("final_bubbles", status === "approved" ? (rnd() < 0.5 ? draft : ["edited", "reply"]) : null);
    push("edit_tags", tags);
    push("quality_score", status === "approved" ? 1 + Math.floor(rnd() * 5) : null);
    push("cta_data", rnd() < 0.3 ? JSON.stringify({ type: pick(["soft", "direct", "medium"]) }) : null);
    push("cta_response_type", rnd() < 0.2 ? pick(["IGNORED", "INTERESTED", "CONVERTED"]) : null);
    push("customer_status", pick(["PROSPECT", "PROSPECT", "LEAD_QUALIFIED", "CUSTOMER"]));
    push("priority_score", Math.round(rnd() * 1000) / 1000);
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("SELECT hitl_ensure_interaction_partitions((now() - make_interval(days => $1))::date, $2)", [
      opts.days + 1,
      Math.ceil(opts.days / 28) + 2,
    ]);
    const json = (k: string) =>
      cols[k]!.map((v) => (v === null ? null : typeof v === "string" && k === "cta_data" ? v : JSON.stringify(v)));
    await c.query(
      `
      INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, llm1_model, llm2_model, llm1_cost_usd, llm2_cost_usd,
        llm2_bubbles, review_status, reviewer_id, review_time_seconds, review_completed_at, final_bubbles, edit_tags, quality_score, cta_data,
        cta_response_type, customer_status, priority_score)
      SELECT u, u || '_c', m, ca, ca, l1, l2, c1, c2, ARRAY(SELECT jsonb_array_elements_text(b)), s, rv, rt,
        CASE WHEN s IN ('approved', 'rejected') THEN ca + interval '5 minutes' END,
        CASE WHEN fb IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(fb)) END, ARRAY(SELECT jsonb_array_elements_text(t)), q, cd, cr, cs, p
      FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::numeric[], $7::numeric[], $8::jsonb[], $9::text[], $10::text[],
        $11::int[], $12::jsonb[], $13::jsonb[], $14::int[], $15::jsonb[], $16::text[], $17::text[], $18::float8[])
        AS r(u, m, ca, l1, l2, c1, c2, b, s, rv, rt, fb, t, q, cd, cr, cs, p)`,
      [
        cols.user_id,
        cols.user_message,
        cols.created_at,
        cols.llm1_model,
        cols.llm2_model,
        cols.llm1_cost_usd,
        cols.llm2_cost_usd,
        json("llm2_bubbles"),
        cols.review_status,
        cols.reviewer_id,
        cols.review_time_seconds,
        json("final_bubbles"),
        json("edit_tags"),
        cols.quality_score,
        json("cta_data"),
        cols.cta_response_type,
        cols.customer_status,
        cols.priority_score,
      ],
    );
  } finally {
    await c.end();
  }
}
