import type { Readable } from "node:stream";

/**
 * The narrow object-store port. Two adapters: `S3BlobStore` (@aws-sdk/client-s3 + lib-storage,
 * streaming multipart uploads; backup, restore and archive jobs) and `FetchBlobStore` (aws4fetch,
 * small objects; the API, whose bundle must not carry the AWS SDK).
 */
export interface BlobStore {
  put(key: string, body: Buffer | string, contentType?: string): Promise<void>;
  get(key: string): Promise<Buffer | null>;
}

/** What the API does with the bucket beyond small objects: delete an erased export's file, sign a download link. */
export interface ApiBlobStore extends BlobStore {
  delete(keys: string[]): Promise<void>;
  /** A presigned GET URL of `key`, valid `seconds` (no request made). */
  presignGet(key: string, seconds: number): Promise<string>;
}

export interface StreamingBlobStore extends BlobStore {
  /** Uploads a stream (multipart, bounded memory); resolves when the object is complete. */
  upload(key: string, body: Readable, contentType?: string): Promise<void>;
  /** A streaming read of the object. */
  read(key: string): Promise<Readable>;
  list(prefix: string): Promise<{ key: string; size: number; lastModified: Date }[]>;
  delete(keys: string[]): Promise<void>;
}
