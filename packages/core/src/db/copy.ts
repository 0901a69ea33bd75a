import { setTimeout as sleep } from "node:timers/promises";

/**
 * COPY over the driver's own wire-protocol parser. pg-copy-streams hooks the raw socket, which the
 * Neon driver's WebSocket shim does not provide; the pg client underneath still parses CopyData
 * messages and hands them to the active query, so a query object of our own receives them. This
 * is the Postgres protocol end to end, so it works over any transport the driver speaks.
 */

/** The part of the driver's connection a COPY query talks to. */
interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: { ws?: { bufferedAmount?: number }; writeBuffer?: { length: number }; writableLength?: number };
}

/** The result of one COPY: the row count Postgres reports. */
export interface CopyResult {
  rows: number;
}

/** A pg "submittable": the client calls these as protocol messages arrive. */
abstract class CopyQuery {
  readonly done: Promise<CopyResult>;
  private resolve!: (r: CopyResult) => void;
  private reject!: (e: Error) => void;
  private rows = 0;
  private failed: Error | null = null;

  constructor(private readonly text: string) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {});
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }
  handleCommandComplete(msg: { text?: string }): void {
    this.rows =
      Number(
        String(msg.text ?? "")
          .split(" ")
          .pop(),
      ) || 0;
  }
  /** The client forgets the query after an error, so settle now (it waits for ReadyForQuery itself). */
  handleError(e: Error): void {
    this.reject(this.failed ?? e);
  }
  handleReadyForQuery(): void {
    if (this.failed) this.reject(this.failed);
    else this.resolve({ rows: this.rows });
  }
  handleRowDescription(): void {
    this.fail(new Error("COPY query returned rows: expected COPY ... TO STDOUT or FROM STDIN"));
  }
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(_msg: { chunk: Buffer }): void {}
  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFail("this query does not send data");
  }
  protected fail(e: Error): void {
    this.failed ??= e;
  }
}

/** `COPY ... TO STDOUT`: each CopyData chunk is passed on before the next is parsed. */
export class CopyOutQuery extends CopyQuery {
  /**
   * @param onChunk receives each chunk synchronously. The buffer is a view into the driver's parse
   *   buffer, which is reused: copy what must outlive the call.
   */
  constructor(
    text: string,
    private readonly onChunk: (chunk: Buffer) => void,
  ) {
    super(text);
  }

  override handleCopyData(msg: { chunk: Buffer }): void {
    try {
      this.onChunk(msg.chunk);
    } catch (e) {
      this.fail(e as Error);
    }
  }
}

/** Bytes queued on the connection but not yet on the wire. */
function backlog(c: Connection): number {
  const s = c.stream;
  return (s.ws?.bufferedAmount ?? 0) + (s.writeBuffer?.length ?? 0) + (s.writableLength ?? 0);
}

/** `COPY ... FROM STDIN` fed from an async source, pausing while the socket's backlog is high. */
export class CopyInQuery extends CopyQuery {
  constructor(
    text: string,
    private readonly source: AsyncIterable<Buffer>,
    private readonly highWater = 4 << 20,
  ) {
    super(text);
  }

  override handleCopyInResponse(connection: Connection): void {
    void this.feed(connection);
  }

  private async feed(c: Connection): Promise<void> {
    try {
      for await (const chunk of this.source) {
        c.sendCopyFromChunk(chunk);
        while (backlog(c) > this.highWater) await sleep(2);
      }
      c.endCopyFrom();
    } catch (e) {
      this.fail(e as Error);
      c.sendCopyFail(`source failed: ${(e as Error).message}`.slice(0, 200));
    }
  }
}

/**
 * Tracks the last complete line of a COPY text stream (rows end in a newline; newlines inside
 * values are escaped), copying only that line's bytes out of the driver's buffer.
 */
export class LastLine {
  private line: Buffer | null = null;
  private partial: Buffer[] = [];

  push(chunk: Buffer): void {
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) {
      this.partial.push(Buffer.from(chunk));
      return;
    }
    const start = end > 0 ? chunk.lastIndexOf(0x0a, end - 1) : -1;
    this.line = start >= 0 ? Buffer.from(chunk.subarray(start + 1, end)) : Buffer.concat([...this.partial, chunk.subarray(0, end)]);
    this.partial = end < chunk.length - 1 ? [Buffer.from(chunk.subarray(end + 1))] : [];
  }

  /** The last complete line, without its newline. */
  get value(): Buffer | null {
    return this.line;
  }
}

const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/**
 * The fields of one line of COPY TO's text format, `\N` as null. COPY TO escapes only backslash
 * and these control characters (\b \f \n \r \t \v); everything else is sent as is.
 */
export function copyFields(line: Buffer | string): (string | null)[] {
  const text = typeof line === "string" ? line : line.toString("utf8");
  return text.split("\t").map((f) => {
    if (f === "\\N") return null;
    return f.includes("\\") ? f.replace(/\\(.)/gs, (_, c: string) => ESCAPES[c] ?? c) : f;
  });
}
