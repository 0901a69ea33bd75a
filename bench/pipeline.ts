import http from "node:http";
import { randomUUID } from "node:crypto";
import type { FaultSpec, Traffic } from "@hitl/devstack";
import type { BenchEnv } from "./support.js";

/**
 * One message through the whole pipeline over HTTP, as the bot, the LLM pipeline and a reviewer
 * call it, with what each step cost at the stores' front doors (the Upstash bridge and the Neon
 * proxy count every request, command and byte they answer): the latency and cost benches' shared
 * walk.
 */

const agent = new http.Agent({ keepAlive: true });

export interface Answer {
  status: number;
  body: any;
  ms: number;
}

/** One API call over a keep-alive connection (node:http: the generator's CPU is the servers'). */
export function call(env: BenchEnv, method: string, path: string, key: string, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (text !== undefined)
      Object.assign(headers, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
    const req = http.request(`${env.apiUrl}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = raw;
        try {
          parsed = JSON.parse(raw);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, ms: performance.now() - t });
      });
      res.once("error", reject);
    });
    req.once("error", reject);
    req.end(text);
  });
}

export type Store = "redis" | "postgres";
const FRONT_DOOR = { redis: "upstashUrl", postgres: "neonProxyUrl" } as const;

async function faults(env: BenchEnv, store: Store, method: "GET" | "POST" | "DELETE", spec?: FaultSpec): Promise<Traffic> {
  const stack = env.stack;
  const res = await fetch(`${stack[FRONT_DOOR[store]]}/__faults`, {
    method,
    headers: { "x-fault-token": stack.faultToken, "content-type": "application/json" },
    body: spec && JSON.stringify(spec),
  });
  if (!res.ok) throw new Error(`${store} fault switch answered ${res.status}`);
  return ((await res.json()) as { traffic: Traffic }).traffic;
}

/** Latency added to every request of each store (ms), as production's network would. */
export async function injectLatency(env: BenchEnv, ms: Record<Store, number>): Promise<void> {
  for (const store of ["redis", "postgres"] as const) {
    if (ms[store] > 0) await faults(env, store, "POST", { latency: { ms: ms[store], jitterMs: 0 } });
    else await faults(env, store, "DELETE");
  }
}

export interface StepCost {
  requests: number;
  commands: number;
  bytesOut: number;
  connections: number;
}
export type Snapshot = Record<Store, Traffic>;

export async function snapshot(env: BenchEnv): Promise<Snapshot> {
  const [redis, postgres] = await Promise.all([faults(env, "redis", "GET"), faults(env, "postgres", "GET")]);
  return { redis: { ...redis }, postgres: { ...postgres } };
}

export function delta(a: Snapshot, b: Snapshot): Record<Store, StepCost> {
  const d = (s: Store) => ({
    requests: b[s].requests - a[s].requests,
    commands: b[s].commands - a[s].commands,
    bytesOut: b[s].bytesOut - a[s].bytesOut,
    connections: b[s].connections - a[s].connections,
  });
  return { redis: d("redis"), postgres: d("postgres") };
}

export interface Step {
  /** The route, as a person reads it: `POST /v1/messages`. */
  route: string;
  answer: Answer;
  cost: Record<Store, StepCost>;
}

/**
 * Runs one message for `user` through ingest, claim, interaction, ack, review claim, approve,
 * outbox claim, sent, then the memory and status reads the pipeline makes before its next draft.
 * Each step's store traffic is read between steps (the fault switch's counters are not store
 * traffic). `n` makes the Telegram id unique.
 */
export async function walkOneMessage(env: BenchEnv, user: string, n: number, measure = true): Promise<Step[]> {
  const steps: Step[] = [];
  const k = env.keys;
  const step = async (route: string, fn: () => Promise<Answer>, ok: (a: Answer) => boolean) => {
    const before = measure ? await snapshot(env) : undefined;
    const answer = await fn();
    const after = measure ? await snapshot(env) : undefined;
    if (!ok(answer)) throw new Error(`${route} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    steps.push({ route, answer, cost: before && after ? delta(before, after) : { redis: zero(), postgres: zero() } });
    return answer;
  };
  const chat = 1000 + (n % 100000);
  await step(
    "POST /v1/messages",
    () =>
      call(env, "POST", "/v1/messages", k.bot, { user_id: user, chat_id: chat, text: `hello ${n}, how are you?`, telegram_message_id: n }),
    (a) => a.status === 202 || a.status === 200,
  );
  const claimed = await step(
    "POST /v1/messages/claim",
    () => call(env, "POST", "/v1/messages/claim", k.agent, { max: 1 }),
    (a) => a.status === 200 && a.body.items?.length === 1,
  );
  const msg = claimed.body.items[0];
  const created = await step(
    "POST /v1/interactions",
    () =>
      call(env, "POST", "/v1/interactions", k.agent, {
        message_id: msg.message_id,
        user_id: msg.user_id,
        chat_id: msg.chat_id,
        user_message: msg.text,
        user_message_timestamp: msg.received_at,
        llm1_raw_response: "draft",
        llm2_bubbles: ["Hello!", "How can I help?"],
        llm1_model: "gemini-2.0-flash",
        llm2_model: "gpt-4o-mini",
        llm1_cost_usd: 0.0001,
        llm2_cost_usd: 0.0002,
        constitution_risk_score: 0.1,
        constitution_flags: [],
        constitution_recommendation: "review",
      }),
    (a) => a.status === 201 || a.status === 200,
  );
  const id = created.body.id as string;
  await step(
    "POST /v1/messages/ack",
    () => call(env, "POST", "/v1/messages/ack", k.agent, { items: [msg] }),
    (a) => a.status === 200,
  );
  await step(
    "POST /v1/reviews/claim",
    () => call(env, "POST", "/v1/reviews/claim", k.reviewer),
    (a) => a.status === 200 && a.body?.id === id,
  );
  await step(
    "POST /v1/reviews/{id}/approve",
    () => call(env, "POST", `/v1/reviews/${id}/approve`, k.reviewer, { final_bubbles: ["Hello there!"], quality_score: 5 }),
    (a) => a.status === 200,
  );
  const out = await step(
    "POST /v1/outbox/claim",
    () => call(env, "POST", "/v1/outbox/claim", k.bot),
    (a) => a.status === 200 && a.body.items?.length === 1,
  );
  const lease = out.body.items[0].lease_token as string;
  await step(
    "POST /v1/outbox/{id}/sent",
    () => call(env, "POST", `/v1/outbox/${id}/sent`, k.bot, { lease_token: lease }),
    (a) => a.status === 200 || a.status === 204,
  );
  await step(
    "GET /v1/users/{id}/memory",
    () => call(env, "GET", `/v1/users/${encodeURIComponent(user)}/memory`, k.agent),
    (a) => a.status === 200,
  );
  await step(
    "GET /v1/users/{id}/status",
    () => call(env, "GET", `/v1/users/${encodeURIComponent(user)}/status`, k.agent),
    (a) => a.status === 200,
  );
  return steps;
}

const zero = (): StepCost => ({ requests: 0, commands: 0, bytesOut: 0, connections: 0 });

export const benchUser = (label: string) => `bench-${label}-${randomUUID().slice(0, 8)}`;
