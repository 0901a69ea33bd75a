import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, NoSuchKey } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { Readable } from "node:stream";
import type { StreamingBlobStore } from "./blob.js";
import { withDeadline } from "../resilience/deadline.js";
import { timedOut } from "../resilience/store-failure.js";

export interface S3BlobOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Deadline of each S3 request (connection set-up included): a hung S3 fails the call, which the SDK may retry. @default 10000 */
  timeoutMs?: number;
}

/** Part size of multipart uploads: memory per upload is about queueSize x this. */
const PART_BYTES = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;
/** The SDK's attempts per call (its standard retry mode's default). */
const SDK_ATTEMPTS = 3;

export class DeleteObjectsFailedError extends Error {
  override name = "DeleteObjectsFailedError";
  constructor(readonly failed: { key: string; code: string }[]) {
    super(
      `S3 did not delete ${failed.length} object(s): ${failed
        .slice(0, 5)
        .map((f) => `${f.key} (${f.code})`)
        .join(", ")}${failed.length > 5 ? ", …" : ""}`,
    );
  }
}

/** @aws-sdk/client-s3 adapter; streams through lib-storage `Upload` with bounded memory. */
export class S3BlobStore implements StreamingBlobStore {
  private readonly s3: S3Client;

  constructor(private readonly opts: S3BlobOptions) {
    this.s3 = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: Boolean(opts.endpoint),
      credentials: opts.credentials,
      // throwOnRequestTimeout: without it this SDK version only logs a warning when the deadline passes.
      requestHandler: {
        requestTimeout: opts.timeoutMs ?? 10_000,
        connectionTimeout: Math.min(opts.timeoutMs ?? 10_000, 5_000),
        throwOnRequestTimeout: true,
      },
      // Plain bodies: checksummed chunked encoding is not understood by every S3-compatible server.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  async upload(key: string, body: Readable, contentType = "application/octet-stream"): Promise<void> {
    await new Upload({
      client: this.s3,
      params: { Bucket: this.opts.bucket, Key: key, Body: body, ContentType: contentType },
      partSize: PART_BYTES,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    }).done();
  }

  /**
   * One SDK call, retries included, within the time its attempts may take (3 x the request deadline,
   * plus its backoff); past it the call is aborted and abandoned, whatever the SDK does.
   */
  private bounded<T>(call: (abortSignal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return withDeadline({ timeoutMs: SDK_ATTEMPTS * (this.opts.timeoutMs ?? 10_000) + 1_000 }, call, (cause) => timedOut("s3", cause));
  }

  async put(key: string, body: Buffer | string, contentType = "application/octet-stream"): Promise<void> {
    await this.bounded((abortSignal) =>
      this.s3.send(new PutObjectCommand({ Bucket: this.opts.bucket, Key: key, Body: body, ContentType: contentType }), { abortSignal }),
    );
  }

  async read(key: string): Promise<Readable> {
    const res = await this.bounded((abortSignal) =>
      this.s3.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }), { abortSignal }),
    );
    return res.Body as Readable;
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await this.bounded(async (abortSignal) => {
        const res = await this.s3.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }), { abortSignal });
        return Buffer.from(await res.Body!.transformToByteArray());
      });
    } catch (e) {
      if (e instanceof NoSuchKey || (e as { name?: string }).name === "NoSuchKey") return null;
      throw e;
    }
  }

  async list(prefix: string) {
    const out: { key: string; size: number; lastModified: Date }[] = [];
    let token: string | undefined;
    do {
      const res = await this.bounded((abortSignal) =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal }),
      );
      for (const o of res.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * Deletes `keys`, 1,000 per request. S3 answers 200 even when some keys failed (AccessDenied on a
   * key outside the role's grant, an internal error): each failed key is in the answer's `Errors`,
   * and any makes this throw DeleteObjectsFailedError (the deletes that succeeded stay done; a
   * retry repeats them harmlessly).
   */
  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const res = await this.bounded((abortSignal) =>
        this.s3.send(new DeleteObjectsCommand({ Bucket: this.opts.bucket, Delete: { Objects: batch, Quiet: true } }), { abortSignal }),
      );
      if (res.Errors?.length) throw new DeleteObjectsFailedError(res.Errors.map((e) => ({ key: e.Key ?? "", code: e.Code ?? "unknown" })));
    }
  }
}
