import { withDeadline } from "@hitl/core";
import { AwsClient } from "aws4fetch";

/** What a job invocation carries when it continues an earlier one. */
export interface JobEvent {
  /** The set the earlier run checkpointed (its state lives in the bucket). */
  resume?: string;
  /** 1 for a scheduled run; each continuation counts one more. */
  run?: number;
  /** The holder of the job's lease the earlier run hands over (runJob: single-flight). */
  lease?: string;
}

/** Starts the next run of this job with `event`; resolves once Lambda accepted it. */
export type Continue = (event: Required<JobEvent>) => Promise<void>;

export class ContinuationFailedError extends Error {
  override name = "ContinuationFailedError";
  constructor(status: number) {
    super(`self-invocation refused: HTTP ${status}`);
  }
}

/**
 * In Lambda: an asynchronous invocation of this same function (`Event` type: Lambda queues it and
 * answers 202), signed with the function's own credentials. Its role is granted
 * lambda:InvokeFunction on itself (infra/jobs.ts).
 */
export function selfInvoke(env: NodeJS.ProcessEnv = process.env, timeoutMs = 10_000): Continue {
  return async (event) => {
    const name = env.AWS_LAMBDA_FUNCTION_NAME;
    const region = env.AWS_REGION;
    if (!name || !region || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY)
      throw new Error("self-invocation needs the Lambda environment (function name, region, credentials)");
    const aws = new AwsClient({
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
      region,
      service: "lambda",
    });
    const res = await withDeadline({ timeoutMs }, (signal) =>
      aws.fetch(`https://lambda.${region}.amazonaws.com/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, {
        method: "POST",
        body: JSON.stringify(event),
        headers: { "X-Amz-Invocation-Type": "Event" },
        signal,
      }),
    );
    if (res.status !== 202) throw new ContinuationFailedError(res.status);
  };
}
