import { handle } from "hono/aws-lambda";
import { minimalApp } from "./app.js";

/** The minimal app as a Lambda handler: the bundle whose size and cold import the API's are compared with. */
export const handler = handle(
  minimalApp({
    url: process.env.UPSTASH_REDIS_REST_URL ?? "http://127.0.0.1:1",
    token: process.env.UPSTASH_REDIS_REST_TOKEN ?? "",
    keySha256: process.env.MINIMAL_KEY_SHA256 ?? "0".repeat(64),
    databaseUrl: process.env.DATABASE_URL,
  }),
);
