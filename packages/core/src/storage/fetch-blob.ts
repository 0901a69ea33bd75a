import { AwsClient } from "aws4fetch";
import type { BlobStore } from "./blob.js";

export interface FetchBlobOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Small-object S3 access signed with aws4fetch (SigV4): HEAD bucket, GET and PUT. */
export class FetchBlobStore implements BlobStore {
  private readonly aws: AwsClient | undefined;
  private readonly base: string;

  constructor(opts: FetchBlobOptions) {
    const c = opts.credentials;
    this.aws = c ? new AwsClient({ ...c, region: opts.region, service: "s3" }) : undefined;
    this.base = opts.endpoint ? `${opts.endpoint.replace(/\/$/, "")}/${opts.bucket}` : `https://${opts.bucket}.s3.${opts.region}.amazonaws.com`;
  }

  private client(): AwsClient {
    if (!this.aws) throw new Error("no S3 credentials configured");
    return this.aws;
  }

  private url(key: string) {
    return `${this.base}/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  /** True when the bucket exists and these credentials may read it. */
  async headBucket(timeoutMs = 2000): Promise<boolean> {
    if (!this.aws) return false;
    const res = await this.aws.fetch(this.base + "/", { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  }

  async put(key: string, body: Buffer | string, contentType = "application/octet-stream"): Promise<void> {
    const res = await this.client().fetch(this.url(key), { method: "PUT", body: typeof body === "string" ? body : new Uint8Array(body), headers: { "content-type": contentType } });
    if (!res.ok) throw new Error(`S3 PUT ${key} failed: ${res.status}`);
  }

  async get(key: string): Promise<Buffer | null> {
    const res = await this.client().fetch(this.url(key), { method: "GET" });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`S3 GET ${key} failed: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}
