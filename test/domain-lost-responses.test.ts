import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startPrivateStack, type PrivateStack } from "./support/private-stack.js";
import { type App, lostThenRetried } from "./support/lost-response.js";
import { interactionBody } from "./support/fixtures.js";

/**
 * The writes issue 26 added, with their response lost (the Neon proxy's reset fault: the statement
 * commits, the answer is cut) and the client's retry sent through a second instance: each applies
 * once. Stands for Lambda's at-least-once clients and many instances.
 */
let s: PrivateStack;
beforeAll(async () => {
  s = await startPrivateStack();
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

describe("domain writes whose response was lost, retried through another instance", () => {
  let one: App, two: App;
  // Fresh instances per case: the cut answer counts against the first instance's Postgres breaker.
  beforeEach(() => {
    one = s.app();
    two = s.app();
  });
  const count = async (sql: string, params: unknown[]) => Number((await two.services.db.query<{ n: number }>(sql, params))[0]!.n);
  const interaction = async (u: string) =>
    (await two.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u }))).json().id as string;

  it("a CTA conversion adds its LTV and writes its transition once (no key needed: the response is the key)", async () => {
    const u = `c${randomUUID().slice(0, 8)}`;
    const id = await interaction(u);
    const r = await lostThenRetried(s, one, two, "POST", `/v1/interactions/${id}/cta-response`, s.keys.agent, {
      response_type: "INTERESTED",
      converted: true,
      ltv_amount: 20,
    });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ customer_status: "CUSTOMER", ltv_usd: 20, repeated: true });
    expect(await count("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id = $1", [u])).toBe(1);
  });

  it("a commitment, an analysis and a rotation are created once with their Idempotency-Key", async () => {
    const u = `c${randomUUID().slice(0, 8)}`;
    const id = await interaction(u);
    const c = await lostThenRetried(
      s,
      one,
      two,
      "POST",
      `/v1/users/${u}/commitments`,
      s.keys.agent,
      { commitment_timestamp: new Date(Date.now() + 3600_000).toISOString(), commitment_text: "once" },
      randomUUID(),
    );
    expect(c.status).toBe(200);
    const a = await lostThenRetried(
      s,
      s.app(),
      two,
      "POST",
      `/v1/interactions/${id}/coherence`,
      s.keys.agent,
      { analysis_status: "OK" },
      randomUUID(),
    );
    expect(a.status).toBe(200);
    const p = await lostThenRetried(
      s,
      s.app(),
      two,
      "POST",
      `/v1/users/${u}/prompt-rotations`,
      s.keys.agent,
      { new_prompt_id: "p2" },
      randomUUID(),
    );
    expect(p.status).toBe(200);
    expect(
      await count(
        `SELECT (SELECT count(*) FROM commitments WHERE user_id = $1) + (SELECT count(*) FROM coherence_analyses WHERE user_id = $1)
      + (SELECT count(*) FROM prompt_rotations WHERE user_id = $1) AS n`,
        [u],
      ),
    ).toBe(3);
  });

  it("a manual status change with LTV writes one transition", async () => {
    const u = `c${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(
      s,
      one,
      two,
      "PUT",
      `/v1/users/${u}/status`,
      s.keys.reviewer,
      { customer_status: "CUSTOMER", ltv_amount: 10 },
      randomUUID(),
    );
    expect(r.status).toBe(200);
    expect(r.json().ltv_usd).toBe(10);
    expect(await count("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id = $1", [u])).toBe(1);
  });
});
