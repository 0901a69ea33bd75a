/**
 * After a deploy: `npm run smoke -- --url <api> --key <admin key>`. Checks the deployed API end to
 * end, one step after the other, printing each: liveness, the stores (admin health), then one
 * message ingested, claimed (by its id: no real user's queued message is touched, however busy the
 * queue) and acknowledged for a throwaway user, who is then erased. The first failure stops it
 * with exit code 1; the throwaway user is erased whatever step failed, so nothing of it remains
 * but the erasure log's entry (a keyed hash, no id: the log must outlive every erasure).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

class StepFailed extends Error {
  override name = "StepFailed";
}

interface Answer {
  status: number;
  body: any;
}

export async function smoke(url: string, key: string, say: (line: string) => void = console.log): Promise<boolean> {
  const base = url.replace(/\/+$/, "");
  const call = async (method: string, path: string, body?: unknown, auth = true): Promise<Answer> => {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["idempotency-key"] = randomUUID();
    }
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: kept as text */
    }
    return { status: res.status, body: parsed };
  };
  const expectStatus = (a: Answer, want: number, what: string) => {
    if (a.status !== want)
      throw new StepFailed(
        `${what}: HTTP ${a.status} (expected ${want})${a.body?.error?.code ? `, ${a.body.error.code}: ${a.body.error.message}` : ""}`,
      );
  };
  const step = async (name: string, fn: () => Promise<string | void>) => {
    const started = Date.now();
    try {
      const note = await fn();
      say(`ok    ${name} (${Date.now() - started} ms)${note ? `: ${note}` : ""}`);
    } catch (e) {
      say(`FAIL  ${name}: ${e instanceof StepFailed ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      throw e;
    }
  };
  const user = `smoke-${randomBytes(6).toString("hex")}`;
  let ingested = false;
  let erased = false;
  try {
    await step("GET /health", async () => {
      expectStatus(await call("GET", "/health", undefined, false), 200, "liveness");
    });
    await step("GET /v1/health (admin key)", async () => {
      const a = await call("GET", "/v1/health");
      expectStatus(a, 200, "health");
      if (a.body?.status !== "ok") throw new StepFailed(`health says ${JSON.stringify(a.body)}`);
      return "postgres, redis and storage ok";
    });
    let messageId = "";
    await step(`ingest a message for ${user}`, async () => {
      const a = await call("POST", "/v1/messages", { user_id: user, text: "smoke test" });
      ingested = true;
      expectStatus(a, 202, "ingest");
      const item = a.body.items?.[0];
      if (item?.status !== "queued") throw new StepFailed(`ingest answered ${JSON.stringify(item)}`);
      messageId = item.message_id;
      return messageId;
    });
    let leaseToken = "";
    await step("claim it (by its id: nothing else is claimed)", async () => {
      const a = await call("POST", "/v1/messages/claim", { message_ids: [messageId], lease_seconds: 30 });
      expectStatus(a, 200, "claim");
      const mine = (a.body.items ?? []).find((m: { message_id: string }) => m.message_id === messageId);
      if (!mine) throw new StepFailed(`the claim did not return ${messageId}`);
      leaseToken = mine.lease_token;
    });
    await step("acknowledge it", async () => {
      const a = await call("POST", "/v1/messages/ack", { items: [{ message_id: messageId, lease_token: leaseToken }] });
      expectStatus(a, 200, "ack");
      if (a.body.acked !== 1) throw new StepFailed(`ack answered ${JSON.stringify(a.body)}`);
    });
    await step(`erase ${user}`, async () => {
      const a = await call("DELETE", `/v1/users/${encodeURIComponent(user)}`);
      expectStatus(a, 200, "erase");
      erased = true;
    });
    say("smoke test passed");
    return true;
  } catch {
    return false;
  } finally {
    // Whatever failed, the throwaway user goes.
    if (ingested && !erased) {
      const a = await call("DELETE", `/v1/users/${encodeURIComponent(user)}`).catch((e) => ({ status: 0, body: String(e) }));
      say(a.status === 200 ? `cleanup: ${user} erased` : `cleanup: erasing ${user} failed (HTTP ${a.status}): erase it by hand`);
    }
  }
}

const USAGE = "usage: npm run smoke -- --url <api url> --key <admin key>";

async function main() {
  let values: { url?: string; key?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { url: { type: "string" }, key: { type: "string" }, help: { type: "boolean" } } }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.url || !values.key) {
    console.error(`${!values.url ? "--url" : "--key"} is missing\n${USAGE}`);
    process.exit(2);
  }
  process.exit((await smoke(values.url, values.key)) ? 0 : 1);
}

if (process.argv[1] && (process.argv[1].endsWith("scripts/smoke.ts") || process.argv[1].endsWith("scripts\\smoke.ts"))) await main();
