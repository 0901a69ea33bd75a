import { handle } from "hono/aws-lambda";
import { emfPublisher } from "../lib/emf.js";
import { app } from "./app.js";

const base = handle(app);
let publisher: ReturnType<typeof emfPublisher> | undefined;

/** The API Lambda: Hono's adapter, then this instance's metrics flushed as EMF after every invocation. */
export const handler: typeof base = async (event, context) => {
  try {
    return await base(event, context);
  } finally {
    const services = app.currentServices();
    if (services) await (publisher ??= emfPublisher(services.metrics.registry)).publish().catch(() => {});
  }
};
