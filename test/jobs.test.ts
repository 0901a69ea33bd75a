import { describe, expect, it } from "vitest";
import { createTestDatabase, testEnv, testKeys } from "./support/stack.js";
import { createTestBucket } from "./support/backup.js";

describe("scheduled function handlers", () => {
  it("a Postgres backup out of time checkpoints and fails (so the retry resumes); the next invocation completes the same set", async () => {
    const { bucket, store } = await createTestBucket();
    Object.assign(process.env, testEnv(await createTestDatabase(), JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const { handler } = await import("../functions/backup-postgres.js");
    const { JobIncompleteError } = await import("../functions/lib/job.js");
    const event = { source: "aws.scheduler", "detail-type": "Scheduled Event", detail: {} };
    await expect(handler(event, { getRemainingTimeInMillis: () => 30_000 })).rejects.toBeInstanceOf(JobIncompleteError);
    const started = (await store.list("backups/postgres/")).map((o) => o.key.split("/")[2]);
    expect(new Set(started).size).toBe(1);
    const done = await handler(event, { getRemainingTimeInMillis: () => 600_000 });
    expect(done).toMatchObject({ status: "complete", id: started[0], verified: true });
  });
});
