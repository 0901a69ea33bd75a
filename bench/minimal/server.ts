import { serve } from "@hono/node-server";
import { minimalApp } from "./app.js";

/** The minimal app over HTTP (a child process of the bench, as `npm start` is for the API). */
const port = Number(process.env.PORT);
const app = minimalApp({
  url: process.env.UPSTASH_REDIS_REST_URL!,
  token: process.env.UPSTASH_REDIS_REST_TOKEN!,
  keySha256: process.env.MINIMAL_KEY_SHA256!,
});
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => console.log(`minimal app on ${port}`));
// A clean exit on SIGTERM (a CPU profile, when asked for, is written on exit).
process.on("SIGTERM", () => process.exit(0));
