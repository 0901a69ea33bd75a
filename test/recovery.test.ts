import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const json = async (res: Response) => (await res.json()) as any;
const bot = (method: string, path: string, body?: unknown) => t.call(method, path, { key: t.keys.bot, body });

describe("recovery", () => {
  it("cursors never move backwards and add up recovered counts", async () => {
    expect((await bot("GET", "/v1/recovery/cursors/r1")).status).toBe(404);
    await bot("PUT", "/v1/recovery/cursors/r1", {
      last_processed_telegram_id: 100,
      last_processed_telegram_date: "2026-11-25T10:00:00Z",
      messages_recovered: 2,
    });
    const back = await json(
      await bot("PUT", "/v1/recovery/cursors/r1", {
        last_processed_telegram_id: 90,
        last_processed_telegram_date: "2026-11-25T09:00:00Z",
        messages_recovered: 1,
      }),
    );
    expect(back).toMatchObject({ last_processed_telegram_id: 100, total_recovered_messages: 3 });
    expect(new Date(back.last_processed_telegram_date).toISOString()).toBe("2026-11-25T10:00:00.000Z");
    const fwd = await json(
      await bot("PUT", "/v1/recovery/cursors/r1", {
        last_processed_telegram_id: 120,
        last_processed_telegram_date: "2026-11-25T11:00:00Z",
      }),
    );
    expect(fwd.last_processed_telegram_id).toBe(120);
    expect((await json(await bot("GET", "/v1/recovery/cursors/r1"))).last_processed_telegram_id).toBe(120);
    expect(
      (
        await bot("PUT", "/v1/recovery/cursors/r1", {
          last_processed_telegram_id: -1,
          last_processed_telegram_date: "2026-11-25T11:00:00Z",
        })
      ).status,
    ).toBe(400);
  });

  it("lists cursors least recently checked first, paged", async () => {
    for (const u of ["ra", "rb", "rc"])
      await bot("PUT", `/v1/recovery/cursors/${u}`, {
        last_processed_telegram_id: 1,
        last_processed_telegram_date: "2026-11-25T10:00:00Z",
      });
    const first = await json(await bot("GET", "/v1/recovery/cursors?limit=2"));
    expect(first.items).toHaveLength(2);
    const second = await json(await t.call("GET", `/v1/recovery/cursors?limit=10&cursor=${first.next_cursor}`, { key: t.keys.admin }));
    const all = [...first.items, ...second.items].map((c: any) => c.user_id);
    expect(all.slice(-3)).toEqual(["ra", "rb", "rc"]);
    expect(new Set(all).size).toBe(all.length);
  });

  it("reports high-water marks from stored interactions", async () => {
    for (const [tg, date] of [
      [5, "2026-11-20T10:00:00Z"],
      [9, "2026-11-21T10:00:00Z"],
    ] as const) {
      await t.call("POST", "/v1/interactions", {
        key: t.keys.agent,
        body: interactionBody({ user_id: "hw1", telegram_message_id: tg, telegram_date: date }),
      });
    }
    const hw = await json(await bot("GET", "/v1/recovery/high-water?user_ids=hw1,none"));
    expect(hw.items).toHaveLength(1);
    expect(hw.items[0]).toMatchObject({ user_id: "hw1", telegram_message_id: 9 });
    expect(new Date(hw.items[0].telegram_date).toISOString()).toBe("2026-11-21T10:00:00.000Z");
    expect((await bot("GET", "/v1/recovery/high-water")).status).toBe(400);
  });

  it("records operations with status and counters, and accepts only the API's types", async () => {
    expect((await bot("POST", "/v1/recovery/operations", { operation_type: "startup_comprehensive" })).status).toBe(400);
    const created = await bot("POST", "/v1/recovery/operations", { operation_type: "startup", metadata: { host: "bot-1" } });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const mid = await json(await bot("PATCH", `/v1/recovery/operations/${id}`, { users_checked: 10 }));
    expect(mid).toMatchObject({ status: "running", users_checked: 10, completed_at: null });
    const done = await json(
      await bot("PATCH", `/v1/recovery/operations/${id}`, { status: "completed", messages_recovered: 7, error_details: { note: "ok" } }),
    );
    expect(done).toMatchObject({
      status: "completed",
      users_checked: 10,
      messages_recovered: 7,
      error_details: { note: "ok" },
      metadata: { host: "bot-1" },
    });
    expect(done.completed_at).not.toBeNull();
    expect((await bot("PATCH", "/v1/recovery/operations/00000000-0000-4000-8000-000000000000", { users_checked: 1 })).status).toBe(404);
    expect((await bot("PATCH", `/v1/recovery/operations/${id}`, { status: "paused" })).status).toBe(400);
    await bot("POST", "/v1/recovery/operations", { operation_type: "periodic" });
    const ops = await json(await bot("GET", "/v1/recovery/operations?operation_type=startup"));
    expect(ops.items.map((o: any) => o.id)).toEqual([id]);
    const stats = await json(await bot("GET", "/v1/recovery/stats"));
    expect(stats.recent_operations).toMatchObject({ completed: 1, running: 1 });
    expect(stats.last_successful_recovery).toMatchObject({ messages_recovered: 7, users_checked: 10 });
    expect(stats.total_recovered_messages).toBeGreaterThanOrEqual(3);
  });
});
