import { beforeAll, describe, expect, it } from "vitest";
import { backupPostgres, restorePostgres, verifySet, type S3BlobStore } from "@hitl/core/backup";
import type { TestContext } from "./support/stack.js";
import { json } from "./support/sql.js";
import { createEmptyDatabase, tableFingerprints, useBackupContext, withPg } from "./support/backup.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

/** The tables issue 26 added: each must be backed up, verified, restored, and erased with its user. */
const DOMAIN_TABLES = ["customer_status_transitions", "commitments", "coherence_analyses", "prompt_rotations", "memory_resets"];

const ctx = useBackupContext();
const dbFor = ctx.dbFor;
let t: TestContext;
let store: S3BlobStore;
beforeAll(() => {
  ({ t, store } = ctx);
});

async function populate(user: string) {
  const call = (m: string, p: string, key: string, body?: unknown) => t.call(m, p, { key, body });
  const { id } = await json(
    await call("POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: user, user_message: `hé ${user} 🎉` })),
  );
  await call("POST", `/v1/reviews/${id}/approve`, t.keys.reviewer, approveBody({ edit_tags: ["CTA_SOFT"] }));
  await call("POST", `/v1/interactions/${id}/cta-response`, t.keys.agent, { response_type: "INTERESTED" });
  await call("PUT", `/v1/users/${user}/status`, t.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 12.5, reason: "ünïcode" });
  await call("POST", `/v1/users/${user}/commitments`, t.keys.agent, {
    commitment_timestamp: new Date(Date.now() + 3600_000).toISOString(),
    commitment_text: `call ${user}`,
    details: { a: [1, null] },
    interaction_id: id,
  });
  await call("POST", `/v1/interactions/${id}/coherence`, t.keys.agent, {
    analysis_status: "CONFLICTO_DE_IDENTIDAD",
    conflict_details: { said: "x" },
    llm2_input: ["a"],
  });
  await call("POST", `/v1/users/${user}/prompt-rotations`, t.keys.agent, { new_prompt_id: "persona-2", triggered_by_interaction: id });
  await call("POST", `/v1/users/${user}/memory/history`, t.keys.agent, { role: "user", content: "remember me" });
  await call("DELETE", `/v1/users/${user}/memory`, t.keys.admin);
}

describe("the new domain tables in backups", () => {
  it("are backed up, verified and restored identically; a user erased after the backup stays erased in all of them", async () => {
    await populate("bk-1");
    await populate("bk-2");
    const reader = dbFor(t.databaseUrl);
    const out = await backupPostgres({ db: t.services.db, reader, store });
    if (out.status !== "complete") throw new Error("incomplete backup");
    expect(out.verified).toBe(true);
    const listed = (out.manifest.tables ?? []).map((x) => x.name);
    expect(listed).toEqual(expect.arrayContaining(DOMAIN_TABLES));
    const verified = await verifySet(store, "postgres", out.manifest.id);
    expect(verified.ok).toBe(true);

    const before = await tableFingerprints(t.databaseUrl, ["backup_sets", "schema_migrations"]);
    for (const name of DOMAIN_TABLES) expect(before[name]!.rows, name).toBeGreaterThanOrEqual(2);
    const target = await createEmptyDatabase();
    await restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher });
    const after = await tableFingerprints(target, ["backup_sets", "schema_migrations"]);
    for (const name of DOMAIN_TABLES) expect(after[name], name).toEqual(before[name]);

    const erased = await json(await t.call("DELETE", "/v1/users/bk-1", { key: t.keys.admin }));
    for (const name of DOMAIN_TABLES) expect(erased.deleted.postgres[name], name).toBeGreaterThanOrEqual(1);
    const again = await createEmptyDatabase();
    await restorePostgres(store, out.manifest.id, dbFor(again), { databaseUrl: again, hasher: t.services.hasher });
    const counts = (url: string) =>
      withPg(url, async (c) =>
        Object.fromEntries(
          await Promise.all(
            DOMAIN_TABLES.map(async (name) => [
              name,
              (
                await c.query(
                  `SELECT count(*) FILTER (WHERE user_id = 'bk-1')::int AS gone, count(*) FILTER (WHERE user_id = 'bk-2')::int AS kept FROM ${name}`,
                )
              ).rows[0],
            ]),
          ),
        ),
      );
    const source = await counts(t.databaseUrl);
    const restored = await counts(again);
    for (const name of DOMAIN_TABLES) {
      expect(source[name].kept, name).toBeGreaterThanOrEqual(1);
      expect(restored[name], name).toEqual({ gone: 0, kept: source[name].kept });
    }
  });
});
