export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
/** Field names whose values never reach a log line. */
const SECRET_FIELD = /authorization|token|password|secret|api[_-]?key|cookie|database_url/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * An error message fit for a log: values quoted in it (Postgres quotes the offending input, a
 * store error can echo a command) are replaced, and it is cut at 300 characters. User text,
 * nicknames and tokens never reach a log line through an error.
 */
export function safeMessage(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '"…"')
    .replace(/\(([^()]*)\)=\(([^()]*)\)/g, "(…)=(…)")
    .replace(/command was: .*/s, "command was: …")
    .slice(0, 300);
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_FIELD.test(k)) out[k] = "[redacted]";
    else if (v instanceof Error) out[k] = { name: v.name, message: safeMessage(v.message), code: (v as { code?: unknown }).code };
    else out[k] = v;
  }
  return out;
}

/**
 * An error fit for a log and for SST Console's Issues: its name, its message made safe (safeMessage)
 * and its stack frames (code locations only; the original first line could quote input).
 */
export function reportableError(err: Error): Error {
  const safe = new Error(safeMessage(err.message));
  safe.name = err.name;
  const frames = (err.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l));
  safe.stack = [`${safe.name}: ${safe.message}`, ...frames].join("\n");
  return safe;
}

/** Where error objects go besides the JSON line. */
export type ErrorReporter = (err: Error) => void;

/**
 * In Lambda, `console.error(error)`: the runtime marks the line as an error with its stack, which is
 * how SST Console's Issues (and CloudWatch's error filters) find it. Elsewhere, nothing.
 */
export const lambdaErrorReporter = (env: NodeJS.ProcessEnv = process.env): ErrorReporter | undefined =>
  env.AWS_LAMBDA_FUNCTION_NAME ? (err) => console.error(err) : undefined;

/**
 * Structured JSON logs, one line per event; secrets redacted by field name, errors without stacks.
 * Error-level events that carry an Error also hand a reportable copy of it (with its stack frames)
 * to `report`.
 */
export function createLogger(
  level: LogLevel = "info",
  base: Record<string, unknown> = {},
  write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
  report: ErrorReporter | undefined = lambdaErrorReporter(),
): Logger {
  return new JsonLogger(ORDER[level], base, write, report);
}

/** Methods on the prototype: a child per request costs one small object, not a set of closures. */
class JsonLogger implements Logger {
  constructor(
    private readonly min: number,
    private readonly base: Record<string, unknown>,
    private readonly write: (line: string) => void,
    private readonly report: ErrorReporter | undefined,
  ) {}

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit("error", msg, fields);
  }

  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.min, { ...this.base, ...fields }, this.write, this.report);
  }

  private emit(lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>): void {
    if (ORDER[lvl] < this.min) return;
    this.write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...redact({ ...this.base, ...fields }) }));
    if (lvl === "error" && this.report && fields)
      for (const v of Object.values(fields)) if (v instanceof Error) this.report(reportableError(v));
  }
}
