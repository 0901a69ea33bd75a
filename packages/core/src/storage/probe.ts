import { AwsClient } from "aws4fetch";

export interface StorageProbeOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * A signed HEAD on the bucket. The API bundle must not carry the AWS SDK, so health uses this
 * small SigV4 signer; backups and archives use @aws-sdk/client-s3.
 */
export class StorageProbe {
  private readonly aws: AwsClient | undefined;
  private readonly url: string;

  constructor(opts: StorageProbeOptions) {
    const creds = opts.credentials;
    this.aws = creds ? new AwsClient({ ...creds, region: opts.region, service: "s3" }) : undefined;
    this.url = opts.endpoint
      ? `${opts.endpoint.replace(/\/$/, "")}/${opts.bucket}`
      : `https://${opts.bucket}.s3.${opts.region}.amazonaws.com/`;
  }

  /** True when the bucket exists and these credentials may read it. */
  async headBucket(timeoutMs = 2000): Promise<boolean> {
    if (!this.aws) return false;
    const res = await this.aws.fetch(this.url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  }
}
