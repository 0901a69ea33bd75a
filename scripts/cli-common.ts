/** A wrong command line: the CLI prints the message, then its usage, and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Runs a CLI's main: a UsageError prints the message and the usage (exit 2), any other error one line (exit 1). */
export function runCli(main: () => Promise<void>, usage: string): void {
  main().catch((e) => {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n\n${usage}`);
      process.exit(2);
    }
    console.error(`failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}

/** Bytes for people: B, KiB, MiB or GiB with one decimal. */
export const size = (bytes: number) =>
  bytes >= 1 << 30
    ? `${(bytes / (1 << 30)).toFixed(1)} GiB`
    : bytes >= 1 << 20
      ? `${(bytes / (1 << 20)).toFixed(1)} MiB`
      : bytes >= 1024
        ? `${(bytes / 1024).toFixed(1)} KiB`
        : `${bytes} B`;
