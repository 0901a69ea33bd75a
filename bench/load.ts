import pg from "pg";
import { Redis } from "@upstash/redis";
import { createHitlClient, HitlApiError } from "@hitl/client";
import { percentile, result, startBenchEnv, writeResults, printTable, type BenchResult } from "./support.js";

/**
 * `npm run load`: the seed's 6-month projection (25,000 messages/day, 1,000 users) scaled 100x
 * (2.5 M/day, 100,000 users), driven through the whole pipeline over HTTP as fast as this machine
 * allows for LOAD_SECONDS: ingest, claim, interaction, review, outbox. Then it drains, accounts for
 * every message, and records throughput, per-endpoint latency, errors and store sizes.
 */
const SECONDS = Number(process.env.LOAD_SECONDS ?? 120);
const USERS = Number(process.env.LOAD_USERS ?? 100_000);
const REQUIRED_PER_SECOND = 2_500_000 / 86_400;
const SILENCED_SHARE = 0.01;
/** Offered load (messages/s); default 4x what the 100x projection needs. */
const RATE = Number(process.env.LOAD_RATE ?? 120);
const BATCH = 10;

const USAGE = `usage: npm run load
  Drives the whole pipeline (ingest, claim, interaction, review, outbox) over HTTP against a private
  local stack for LOAD_SECONDS, then drains and accounts for every message. Takes no arguments;
  settings from the environment:
  LOAD_SECONDS  how long to offer load (default 120)
  LOAD_RATE     offered messages per second (default 120)
  LOAD_USERS    distinct senders (default 100000)
  Ctrl-C stops it and removes its stack and temp dir.`;

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) return void console.log(USAGE);
  if (args.length) {
    console.error(`npm run load takes no arguments (got ${args.join(" ")})\n\n${USAGE}`);
    process.exit(2);
  }
  const env = await startBenchEnv();
  const lat = new Map<string, number[]>();
  let errors = 0;
  let calls = 0;
  /** Every call through the typed client (packages/client), timed per operation; 5xx answers counted. */
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    const t = performance.now();
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof HitlApiError) || e.status >= 500) errors++;
      return undefined;
    } finally {
      calls++;
      (lat.get(name) ?? lat.set(name, []).get(name)!).push(performance.now() - t);
    }
  };
  const k = env.keys;
  // No retries: the load measures the API as it answers, and counts its failures.
  const as = (apiKey: string) => createHitlClient({ baseUrl: env.apiUrl, apiKey, retries: 0 });
  const [bot, agentApi, reviewerApi] = [as(k.bot), as(k.agent), as(k.reviewer)];
  const counts = { queued: 0, duplicate: 0, quarantined: 0, interactions: 0, approved: 0, rejected: 0, sent: 0, acked: 0 };
  try {
    // 1% of users are under the silence protocol.
    for (let u = 0; u < USERS * SILENCED_SHARE; u++)
      await timed("protocol", () => reviewerApi.setProtocol({ params: { path: { id: `user-${u * 100}` } }, body: { status: "ACTIVE" } }));
    let ingesting = true;
    let tg = 1;
    const until = Date.now() + SECONDS * 1000;
    const t0 = Date.now();
    let offered = 0;
    const ingest = async () => {
      while (ingesting && Date.now() < until) {
        // Pace to RATE: wait until this batch is due.
        const due = t0 + (offered / RATE) * 1000;
        offered += BATCH;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        const messages = Array.from({ length: BATCH }, () => ({
          user_id: `user-${Math.floor(Math.random() * USERS)}`,
          text: `hello, this is message ${tg}`,
          telegram_message_id: tg++,
          chat_id: 1,
        }));
        const r = await timed("POST /v1/messages", () => bot.ingestMessages({ body: { messages } }));
        for (const i of r?.items ?? []) counts[i.status]++;
      }
    };
    const agent = async (stopWhenIdle: () => boolean) => {
      for (;;) {
        const r = await timed("POST /v1/messages/claim", () => agentApi.claimMessages({ body: { max: 20, lease_seconds: 120 } }));
        const items = r?.items ?? [];
        if (!items.length) {
          if (stopWhenIdle()) return;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        for (const m of items) {
          const created = await timed("POST /v1/interactions", () =>
            agentApi.createInteraction({
              body: {
                message_id: m.message_id,
                user_id: m.user_id,
                chat_id: m.chat_id ?? undefined,
                user_message: m.text,
                user_message_timestamp: m.received_at,
                llm1_raw_response: "draft",
                llm2_bubbles: ["hi!", "how are you?"],
                llm1_model: "gemini",
                llm2_model: "gpt-4o-mini",
                llm1_cost_usd: 0.0001,
                llm2_cost_usd: 0.0002,
                constitution_risk_score: Math.random(),
                constitution_flags: [],
                constitution_recommendation: "review",
                telegram_message_id: m.telegram_message_id ?? undefined,
              },
            }),
          );
          if (created) counts.interactions++;
        }
        const acked = await timed("POST /v1/messages/ack", () => agentApi.ackMessages({ body: { items } }));
        counts.acked += acked?.acked ?? 0;
      }
    };
    const reviewer = async (stopWhenIdle: () => boolean) => {
      for (;;) {
        const r = await timed("POST /v1/reviews/claim", () => reviewerApi.claimReview({ body: { lease_seconds: 300 } }));
        if (!r) {
          if (stopWhenIdle()) return;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        const path = { id: r.id };
        if (Math.random() < 0.1) {
          await timed("POST /v1/reviews/:id/reject", () => reviewerApi.rejectReview({ params: { path } }));
          counts.rejected++;
          continue;
        }
        const a = await timed("POST /v1/reviews/:id/approve", () =>
          reviewerApi.approveReview({
            params: { path },
            body: { final_bubbles: ["hi!", "how are you?"], edit_tags: ["TONE_CASUAL"], quality_score: 4 },
          }),
        );
        if (a) counts.approved++;
      }
    };
    const outbox = async (stopWhenIdle: () => boolean) => {
      for (;;) {
        const r = await timed("POST /v1/outbox/claim", () => bot.claimOutbox({ body: { max: 20 } }));
        const items = r?.items ?? [];
        if (!items.length) {
          if (stopWhenIdle()) return;
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        for (const i of items) {
          const sent = await timed("POST /v1/outbox/:id/sent", () =>
            bot.markOutboxSent({ params: { path: { id: i.interaction_id } }, body: { lease_token: i.lease_token } }),
          );
          if (sent) counts.sent++;
        }
      }
    };
    let draining = false;
    const deadline = () => draining;
    console.log(
      `load: ${SECONDS} s at ${RATE} msg/s offered (${(RATE / REQUIRED_PER_SECOND).toFixed(1)}x the 100x projection) against ${env.apiUrl}, ${USERS} users ...`,
    );
    const started = Date.now();
    const progress = setInterval(() => console.log(`  ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(counts)}`), 15_000);
    const workers = [
      ...Array.from({ length: 4 }, () => agent(() => draining && counts.acked >= counts.queued)),
      ...Array.from({ length: 2 }, () => reviewer(() => draining && counts.approved + counts.rejected >= counts.interactions)),
      outbox(() => draining && counts.sent >= counts.approved),
    ];
    await Promise.all(Array.from({ length: 2 }, ingest));
    ingesting = false;
    const ingestSeconds = (Date.now() - started) / 1000;
    draining = true;
    void deadline;
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 180_000))]);
    clearInterval(progress);
    const totalSeconds = (Date.now() - started) / 1000;

    // Accounting: every ingested message is an interaction, a quarantined row or a dead letter.
    const c = new pg.Client({ connectionString: env.stack.databaseUrl });
    await c.connect();
    const [db] = (
      await c.query(`SELECT (SELECT count(*)::int FROM interaction_keys) AS interactions, (SELECT count(*)::int FROM quarantine_messages) AS quarantined,
      (SELECT count(DISTINCT user_id)::int FROM memory_messages) AS users, pg_database_size(current_database())::float8 AS db_bytes,
      (SELECT count(*)::int FROM interactions WHERE messages_sent_at IS NOT NULL) AS sent`)
    ).rows;
    await c.end();
    const redis = new Redis({
      url: env.stack.upstashUrl,
      token: env.stack.upstashToken,
      enableTelemetry: false,
      automaticDeserialization: false,
    });
    const [dead, pending, inflight, info] = await Promise.all([
      redis.llen("hitl:wal:dead"),
      redis.llen("hitl:wal:pending"),
      redis.zcard("hitl:wal:inflight"),
      redis.exec<string>(["INFO", "memory"]),
    ]);
    const redisBytes = Number(/used_memory:(\d+)/.exec(String(info))?.[1] ?? 0);
    const lost = counts.queued - db.interactions - dead - pending - inflight;
    console.log(
      `accounting: queued ${counts.queued} = interactions ${db.interactions} + dead ${dead} + still queued ${pending + inflight} (lost ${lost}); quarantined ${counts.quarantined} = rows ${db.quarantined}`,
    );
    const throughput = db.interactions / ingestSeconds;
    const perThousand = (bytes: number) => bytes / Math.max(1, db.users / 1000) / 1e6;
    const results: BenchResult[] = [
      result("load.pipeline_throughput", throughput, "msg/s", "required by the 100x projection (2.5 M/day)", REQUIRED_PER_SECOND),
      result(
        "load.ingest_throughput",
        (counts.queued + counts.quarantined + counts.duplicate) / ingestSeconds,
        "msg/s",
        "required by the 100x projection (2.5 M/day)",
        REQUIRED_PER_SECOND,
      ),
      result(
        "load.end_to_end_throughput",
        counts.sent / totalSeconds,
        "msg/s",
        "required by the 100x projection (2.5 M/day)",
        REQUIRED_PER_SECOND,
      ),
      result("load.error_rate", errors / Math.max(1, calls), "ratio", "target: 0", 0),
      result("load.lost_messages", lost + (counts.quarantined - db.quarantined), "msgs", "target: 0", 0),
      result("load.postgres_mb_per_1000_users", perThousand(db.db_bytes), "MB", "reference: ~1 GB per 6 months for all users", 1000),
      result("load.redis_mb_per_1000_users", perThousand(redisBytes), "MB", "reference: ~100 MB per 1,000 users", 100),
      ...[...lat.entries()].flatMap(([name, s]) => [
        result(`load.${name}.p50`, percentile(s, 50), "ms", "target p99: 50 ms", 50),
        result(`load.${name}.p99`, percentile(s, 99), "ms", "target p99: 50 ms", 50),
      ]),
    ];
    printTable(results);
    await writeResults(results);
    console.log(
      `load: ${counts.queued + counts.quarantined} messages in ${ingestSeconds.toFixed(0)} s (+${(totalSeconds - ingestSeconds).toFixed(0)} s drain), ${calls} calls, ${errors} errors, ${lost} lost`,
    );
    if (lost !== 0 || counts.quarantined !== db.quarantined) process.exitCode = 1;
  } finally {
    await env.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
