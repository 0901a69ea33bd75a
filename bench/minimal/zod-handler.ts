import { handle } from "hono/aws-lambda";
import { z } from "zod";
import { minimalApp } from "./app.js";

/**
 * The minimal handler with its body validated by zod (one schema) instead of two `typeof` checks:
 * the cold import the validation library alone adds, before any schema of the API's. The hotpath
 * bench prints it beside the API's, as the floor the design's validation library sets.
 */
const Body = z.object({ user_id: z.string().min(1), text: z.string().min(1) });

export const handler = handle(
  minimalApp(
    {
      url: process.env.UPSTASH_REDIS_REST_URL ?? "http://127.0.0.1:1",
      token: process.env.UPSTASH_REDIS_REST_TOKEN ?? "",
      keySha256: process.env.MINIMAL_KEY_SHA256 ?? "0".repeat(64),
      databaseUrl: process.env.DATABASE_URL,
    },
    (body) => Body.safeParse(body).data,
  ),
);
