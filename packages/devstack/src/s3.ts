import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { waitForPort } from "./ports.js";
import { stopper } from "./process.js";

export interface RunningS3 {
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** s3rver's fixed local credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/**
 * An S3-protocol server (s3rver) on a folder, in a child process: it needs
 * --openssl-legacy-provider (MD5-based listings), which the parent must not be forced to use.
 */
export async function startS3(opts: { dir: string; port: number; bucket: string }): Promise<RunningS3> {
  mkdirSync(opts.dir, { recursive: true });
  const bin = createRequire(import.meta.url).resolve("s3rver/bin/s3rver.js");
  const child = spawn(
    process.execPath,
    [
      "--openssl-legacy-provider",
      bin,
      "-d",
      opts.dir,
      "-a",
      "127.0.0.1",
      "-p",
      String(opts.port),
      "-s",
      "--no-vhost-buckets",
      "--configure-bucket",
      opts.bucket,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (c) => (out = (out + c).slice(-2000)));
  child.stderr.on("data", (c) => (out = (out + c).slice(-2000)));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}): ${out.trim()}`))),
  );
  await Promise.race([waitForPort(opts.port), exited]);
  exited.catch(() => {});
  return {
    endpoint: `http://127.0.0.1:${opts.port}`,
    port: opts.port,
    bucket: opts.bucket,
    ...S3RVER_CREDENTIALS,
    stop: stopper(child, "SIGTERM"),
  };
}
