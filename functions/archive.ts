import { jobHandler } from "./lib/job.js";

export const handler = jobHandler("archive");
