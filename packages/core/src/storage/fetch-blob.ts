import { AwsClient } from "aws4fetch";
import { sleep, withDeadline, type DeadlineOptions } from "../resilience/deadline.js";
import { StoreFailure, isUnavailableStatus, timedOut } from "../resilience/store-failure.js";
import type { BlobStore } from "./blob.js";

export interface FetchBlobOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Deadline of each request. */
  timeoutMs: number;
  requestDeadline?: DeadlineOptions["requestDeadline"];
}

/** The only prefix the health check lists (the API's ListBucket grant is limited to it, infra/permissions.ts). */
export const HEALTH_PREFIX = "erasures/";

/** Attempts of a request S3 answers with a 5xx or 429 (SlowDown), all within the one deadline. */
const ATTEMPTS = 3;

/**
 * Small-object S3 access signed with aws4fetch (SigV4): a one-key listing (health), GET and PUT, each with a
 * deadline that bounds its retries too. aws4fetch's own retries are off: they sleep up to 25.6 s
 * between attempts whatever the deadline (measured: a 300 ms call to an S3 answering 503 took up
 * to 900 ms, and reported a timeout).
 */
export class FetchBlobStore implements BlobStore {
  private readonly aws: AwsClient | undefined;
  private readonly base: string;

  constructor(private readonly opts: FetchBlobOptions) {
    const c = opts.credentials;
    this.aws = c ? new AwsClient({ ...c, region: opts.region, service: "s3", retries: 0 }) : undefined;
    this.base = opts.endpoint
      ? `${opts.endpoint.replace(/\/$/, "")}/${opts.bucket}`
      : `https://${opts.bucket}.s3.${opts.region}.amazonaws.com`;
  }

  private client(): AwsClient {
    if (!this.aws) throw new Error("no S3 credentials configured");
    return this.aws;
  }

  private url(key: string) {
    return `${this.base}/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  /**
   * One signed request within the deadline; a timeout or a transport error is a StoreFailure, and so
   * is a 5xx or 429 once no other attempt fits before the deadline (GET, HEAD and a PUT of the same
   * bytes are safe to repeat).
   */
  private async send(url: string, init: RequestInit, read?: (res: Response) => Promise<Buffer>): Promise<{ res: Response; body?: Buffer }> {
    return withDeadline(
      this.opts,
      async (signal, deadlineAt) => {
        for (let attempt = 1; ; attempt++) {
          let res: Response;
          try {
            res = await this.client().fetch(url, { ...init, signal });
            if (!isUnavailableStatus(res.status)) return { res, body: res.ok && read ? await read(res) : undefined };
          } catch (e) {
            if (signal?.aborted) throw s3Timeout(e);
            throw new StoreFailure("s3", "connection", "S3 is unreachable", undefined, { cause: e });
          }
          await res.body?.cancel();
          const backoff = 50 * 2 ** attempt * (0.5 + Math.random() / 2);
          if (attempt >= ATTEMPTS || (deadlineAt !== undefined && Date.now() + backoff >= deadlineAt)) {
            throw new StoreFailure("s3", "http", `S3 answered HTTP ${res.status}`, res.status);
          }
          await sleep(backoff, signal);
        }
      },
      s3Timeout,
    );
  }

  /**
   * True when the bucket exists and these credentials may list it under HEALTH_PREFIX: one key
   * listed at most (S3 authorises this as ListBucket with `s3:prefix` = HEALTH_PREFIX, so the API's
   * role needs no listing of any other prefix; a HEAD of the bucket would need ListBucket on all).
   */
  async headBucket(): Promise<boolean> {
    if (!this.aws) return false;
    const { res } = await this.send(
      `${this.base}/?list-type=2&max-keys=1&prefix=${encodeURIComponent(HEALTH_PREFIX)}`,
      { method: "GET" },
      async (r) => Buffer.from(await r.arrayBuffer()),
    );
    if (!res.ok) await res.body?.cancel();
    return res.ok;
  }

  async put(key: string, body: Buffer | string, contentType = "application/octet-stream"): Promise<void> {
    const { res } = await this.send(this.url(key), {
      method: "PUT",
      body: typeof body === "string" ? body : new Uint8Array(body),
      headers: { "content-type": contentType },
    });
    if (!res.ok) throw new Error(`S3 PUT ${key} failed: ${res.status}`);
  }

  async get(key: string): Promise<Buffer | null> {
    const { res, body } = await this.send(this.url(key), { method: "GET" }, async (r) => Buffer.from(await r.arrayBuffer()));
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`S3 GET ${key} failed: ${res.status}`);
    return body!;
  }

  /**
   * Deletes objects one request each (DELETE of a missing key is a success: a repeat is harmless).
   * The API deletes only under exports/ (an erasure's exports; infra/permissions.ts).
   */
  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      const { res } = await this.send(this.url(key), { method: "DELETE" });
      await res.body?.cancel();
      if (!res.ok && res.status !== 404) throw new Error(`S3 DELETE ${key} failed: ${res.status}`);
    }
  }

  /**
   * A presigned GET URL of `key`, valid `seconds` (SigV4 query signing, no request made). Signed
   * with the caller's credentials: with a role's session credentials the URL also ends when they do.
   */
  async presignGet(key: string, seconds: number): Promise<string> {
    const url = new URL(this.url(key));
    url.searchParams.set("X-Amz-Expires", String(seconds));
    const signed = await this.client().sign(url.toString(), { method: "GET", aws: { signQuery: true } });
    return signed.url;
  }
}

const s3Timeout = (cause: unknown) => timedOut("s3", cause);
