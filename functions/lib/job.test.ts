import { describe, expect, it, vi } from "vitest";

// Pure decision logic of the job handler: what the job reported decides how the invocation ends.
const outcome = vi.hoisted(() => ({ value: {} as Record<string, unknown> }));
vi.mock("./config.js", () => ({ loadConfig: async () => ({ logLevel: "silent" }) }));
vi.mock("@hitl/core", () => ({
  createLogger: () => {
    const l = { info: () => {}, warn: () => {}, error: () => {}, child: () => l };
    return l;
  },
}));
vi.mock("@hitl/core/backup", () => ({
  jobContext: () => ({ reader: { end: async () => {} }, services: { metrics: { registry: {} } } }),
  runJob: async () => outcome.value,
}));
vi.mock("./emf.js", () => ({ emfPublisher: () => ({ publish: async () => {} }) }));

describe("jobHandler", () => {
  it("fails the invocation for a set that failed verification, continues an incomplete one, returns a verified one", async () => {
    const { jobHandler } = await import("./job.js");
    const continued: unknown[] = [];
    const handler = jobHandler("backup-postgres", {
      continueWith: async (e) => {
        continued.push(e);
      },
    });
    outcome.value = { status: "complete", id: "s1", verified: false };
    await expect(handler({})).rejects.toMatchObject({ name: "BackupUnverifiedError" });
    outcome.value = { status: "incomplete", id: "s2" };
    // The continuation carries the chain's lease holder on.
    await expect(handler({ resume: "s2", run: 4, lease: "chain-1" })).resolves.toMatchObject({ continued: true, run: 4 });
    expect(continued).toEqual([{ resume: "s2", run: 5, lease: "chain-1" }]);
    outcome.value = { status: "skipped", reason: "held" };
    await expect(handler({})).resolves.toMatchObject({ status: "skipped", run: 1 });
    outcome.value = { status: "incomplete", id: "s2" };
    await expect(handler({ resume: "s2", run: 24 })).rejects.toMatchObject({ name: "JobIncompleteError" });
    outcome.value = { status: "complete", id: "s3", verified: true };
    await expect(handler({})).resolves.toMatchObject({ id: "s3", run: 1 });
  });
});
