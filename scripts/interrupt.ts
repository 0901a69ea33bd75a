/**
 * Clean-up on Ctrl-C (SIGINT) or SIGTERM: every registered step runs once (temp dirs, local
 * stacks, child servers), then the process exits 130. A second Ctrl-C exits at once.
 */
const steps = new Set<() => Promise<unknown>>();
let installed = false;

/** Registers `step`; returns a function that unregisters it (call it once the work cleaned up itself). */
export function cleanupOnInterrupt(step: () => Promise<unknown>): () => void {
  steps.add(step);
  if (!installed) {
    installed = true;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: cleaning up ...\n`);
        void Promise.allSettled([...steps].map((s) => s())).then(() => process.exit(130));
      });
    }
  }
  return () => steps.delete(step);
}
