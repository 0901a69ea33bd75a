/** The consumer stopped reading: the producer's next `emit` throws this and it unwinds (closing its session). */
export class ConsumerClosedError extends Error {
  override name = "ConsumerClosedError";
  constructor() {
    super("the consumer stopped reading");
  }
}

/**
 * A callback-style producer as an async iterable with backpressure: `emit` resolves once the
 * consumer has taken the item, so at most one item waits while the consumer works on the previous
 * one (the producer fetches the next batch meanwhile). When the consumer stops early (break,
 * throw), the producer's pending or next `emit` throws ConsumerClosedError and the iterator waits
 * for the producer to unwind; a producer's error is thrown to the consumer.
 */
export async function* pushToPull<T>(produce: (emit: (item: T) => Promise<void>) => Promise<void>): AsyncGenerator<T> {
  const queue: { item: T; taken: () => void }[] = [];
  let closed = false;
  let finished = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const rejects = new Set<(e: unknown) => void>();
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const emit = (item: T) =>
    new Promise<void>((resolve, reject) => {
      if (closed) return reject(new ConsumerClosedError());
      const entry = {
        item,
        taken: () => {
          rejects.delete(reject);
          resolve();
        },
      };
      rejects.add(reject);
      queue.push(entry);
      notify();
    });
  const running = produce(emit).then(
    () => {
      finished = true;
      notify();
    },
    (error: unknown) => {
      finished = true;
      if (!(error instanceof ConsumerClosedError)) failure = { error };
      notify();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        next.taken();
        yield next.item;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  } finally {
    closed = true;
    for (const reject of rejects) reject(new ConsumerClosedError());
    rejects.clear();
    queue.length = 0;
    await running;
  }
}
