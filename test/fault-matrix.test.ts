import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FaultSpec } from "@hitl/devstack";
import { startPrivateStack, type PrivateStack } from "./support/private-stack.js";
import { interactionBody } from "./support/fixtures.js";

/**
 * Every fault x every route class, on a stack of this file's own: the status each route answers
 * and a bound on how long it takes. Deadlines are shortened (the clients are otherwise as in
 * production: Upstash retries 2, connection retries on) so the matrix runs in seconds.
 */
const REDIS_MS = 300;
const PG_MS = 600;
const SETTINGS = { REDIS_TIMEOUT_MS: String(REDIS_MS), PG_TIMEOUT_MS: String(PG_MS), PG_CONNECT_ATTEMPTS: "2", PG_BACKOFF_BASE_MS: "50" };
/** Time an in-process request may take beyond its store deadlines (2 shared cores, cold JIT). */
const SLACK_MS = 700;

type Store = "redis" | "postgres";
type Fault = {
  name: string;
  apply(s: PrivateStack, store: Store): Promise<void> | void;
  heal(s: PrivateStack, store: Store): Promise<void> | void;
};

const switchFault = (name: string, spec: (deadline: number) => FaultSpec): Fault => ({
  name,
  apply: (s, store) => (store === "redis" ? s.stack.bridge : s.stack.proxy).faults.set(spec(store === "redis" ? REDIS_MS : PG_MS)),
  heal: (s, store) => (store === "redis" ? s.stack.bridge : s.stack.proxy).faults.clear(),
});

const FAULTS: Fault[] = [
  switchFault("hang", () => ({ hang: true })),
  switchFault("latency over the deadline", (d) => ({ latency: { ms: d * 3, jitterMs: 50 } })),
  switchFault("HTTP 503", () => ({ status: 503 })),
  switchFault("HTTP 500", () => ({ status: 500 })),
  switchFault("HTTP 429", () => ({ status: 429 })),
  switchFault("reset mid-response", () => ({ reset: true })),
  switchFault("answer stalled mid-body", () => ({ stall: true })),
  { name: "process stopped (SIGSTOP)", apply: (s, store) => s.signal(store, "SIGSTOP"), heal: (s, store) => s.signal(store, "SIGCONT") },
  { name: "process killed", apply: (s, store) => s.signal(store, "SIGKILL"), heal: (s, store) => s.restart(store) },
];

interface RouteClass {
  name: string;
  /** Expected status with Redis failing, and with Postgres failing. */
  expect: Record<Store, number>;
  /** Store calls the route may wait on before the breaker opens (bounds its time). */
  waits: Record<Store, number>;
  run(a: AppUnderTest, seed: Seed): Promise<Answer>;
  check?(answer: Answer, store: Store): void;
}
type AppUnderTest = ReturnType<PrivateStack["app"]>;
type Answer = Awaited<ReturnType<AppUnderTest["call"]>>;
interface Seed {
  user: string;
  claimed: { message_id: string; lease_token: string };
}

let s: PrivateStack;
const k = () => s.keys;

const ROUTES: RouteClass[] = [
  {
    name: "cached read (user status)",
    expect: { redis: 200, postgres: 200 },
    waits: { redis: 1, postgres: 0 },
    run: (a, seed) => a.call("GET", `/v1/users/${seed.user}/status`, k().agent),
    check: (r) => expect(r.json().customer_status).toBe("CUSTOMER"),
  },
  {
    name: "Postgres write (interaction)",
    expect: { redis: 201, postgres: 503 },
    waits: { redis: 1, postgres: 1 },
    run: (a, seed) => a.call("POST", "/v1/interactions", k().agent, interactionBody({ user_id: seed.user })),
  },
  {
    name: "WAL ingest",
    expect: { redis: 503, postgres: 202 },
    waits: { redis: 1, postgres: 0 },
    run: (a, seed) =>
      a.call("POST", "/v1/messages", k().bot, { user_id: seed.user, text: "hello", telegram_message_id: Math.floor(Math.random() * 1e9) }),
  },
  {
    name: "WAL claim",
    expect: { redis: 503, postgres: 200 },
    waits: { redis: 1, postgres: 0 },
    run: (a) => a.call("POST", "/v1/messages/claim", k().agent, { max: 1 }),
  },
  {
    name: "WAL ack",
    expect: { redis: 503, postgres: 200 },
    waits: { redis: 1, postgres: 0 },
    run: (a, seed) => a.call("POST", "/v1/messages/ack", k().agent, { items: [seed.claimed] }),
  },
  {
    name: "memory read",
    expect: { redis: 200, postgres: 200 },
    waits: { redis: 2, postgres: 0 },
    run: (a, seed) => a.call("GET", `/v1/users/${seed.user}/memory`, k().agent),
    check: (r) => expect(r.json().context).toMatchObject({ name: "Fault" }),
  },
  {
    name: "memory append",
    expect: { redis: 201, postgres: 503 },
    waits: { redis: 1, postgres: 1 },
    run: (a, seed) => a.call("POST", `/v1/users/${seed.user}/memory/history`, k().agent, { role: "user", content: "still there?" }),
  },
  {
    name: "dashboard",
    expect: { redis: 200, postgres: 200 },
    waits: { redis: 2, postgres: 0 },
    run: (a) => a.call("GET", "/v1/dashboard/metrics", k().reviewer),
    check: (r, store) => {
      if (store === "redis") expect(r.json().wal).toBeNull();
    },
  },
  {
    name: "health",
    expect: { redis: 503, postgres: 503 },
    waits: { redis: 1, postgres: 1 },
    run: (a) => a.call("GET", "/v1/health", k().admin),
    check: (r, store) => expect(r.json()).toMatchObject({ status: "degraded", [store]: { ok: false } }),
  },
  {
    name: "status page",
    expect: { redis: 503, postgres: 503 },
    waits: { redis: 2, postgres: 2 },
    run: (a) => a.call("GET", "/status", k().admin),
    check: (r, store) => {
      expect(r.headers.get("content-type")).toMatch(/text\/html/);
      expect(r.text).toMatch(new RegExp(`Unavailable: [a-z, ]*${store}`));
    },
  },
];

/** Puts every route's data in place (and its caches warm) with no fault; retries while a restarted server comes up. */
async function seed(a: AppUnderTest): Promise<Seed> {
  const user = `u${randomUUID().slice(0, 8)}`;
  for (let i = 0; ; i++) {
    const r = await a.call("PUT", `/v1/users/${user}/status`, k().reviewer, { customer_status: "CUSTOMER" });
    if (r.status === 200) break;
    if (i > 100) throw new Error(`stack did not come back: ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const ok = async (r: Promise<Answer>, status: number) => {
    const x = await r;
    expect(x.status, x.text).toBe(status);
    return x;
  };
  await ok(a.call("PUT", `/v1/users/${user}/protocol`, k().reviewer, { status: "INACTIVE" }), 200);
  await ok(a.call("PATCH", `/v1/users/${user}/memory/context`, k().agent, { updates: { name: "Fault" } }), 200);
  await ok(
    a.call("POST", "/v1/messages", k().bot, {
      messages: [
        { user_id: user, text: "a" },
        { user_id: user, text: "b" },
      ],
    }),
    202,
  );
  const claimed = (await ok(a.call("POST", "/v1/messages/claim", k().agent, { max: 1 }), 200)).json().items[0];
  for (const r of ROUTES.filter((x) => x.name !== "WAL claim" && x.name !== "WAL ack")) await r.run(a, { user, claimed });
  return { user, claimed: { message_id: claimed.message_id, lease_token: claimed.lease_token } };
}

beforeAll(async () => {
  s = await startPrivateStack();
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

describe.each(["redis", "postgres"] as const)("%s failing", (store) => {
  const deadline = store === "redis" ? REDIS_MS : PG_MS;
  it.each(FAULTS.map((f) => [f.name, f] as const))(
    "%s: every route class answers as documented, within its deadlines",
    async (_name, fault) => {
      // A seeding app with its own breakers (a restarted server may take a few tries to come back).
      const seeded = await seed(s.app({ ...SETTINGS, BREAKER_COOLDOWN_MS: "50", PG_BREAKER_COOLDOWN_MS: "50" }));
      const a = s.app(SETTINGS);
      await fault.apply(s, store);
      const answers: string[] = [];
      try {
        for (const route of ROUTES) {
          const r = await route.run(a, seeded);
          answers.push(`${route.name}: ${r.status} in ${Math.round(r.ms)} ms`);
          expect(r.status, `${route.name}: ${r.text.slice(0, 300)}`).toBe(route.expect[store]);
          expect(r.ms, route.name).toBeLessThan(
            route.waits[store] * deadline + (store === "redis" ? 0 : route.waits.redis * REDIS_MS) + SLACK_MS,
          );
          // A 503 error names the store and when to retry; the health report's 503 is the report itself (its check).
          if (r.status === 503 && r.headers.get("content-type")?.includes("json") && route.name !== "health") {
            expect(Number(r.headers.get("retry-after")), route.name).toBeGreaterThanOrEqual(1);
            expect(r.json().error.code).toBe("unavailable");
          }
          route.check?.(r, store);
        }
        // Three failures opened the breaker: a route that needs the store no longer waits for it.
        const breaker = store === "redis" ? a.services.redis.breaker : a.services.db.breaker;
        expect(breaker.state).toBe("open");
        const again = await ROUTES[store === "redis" ? 2 : 1]!.run(a, seeded);
        expect(again.status).toBe(503);
        expect(again.ms).toBeLessThan(Math.min(deadline, 250));
      } finally {
        await fault.heal(s, store);
        console.log(`[fault matrix] ${store} ${fault.name}: ${answers.join("; ")}`);
      }
    },
    60_000,
  );
});
