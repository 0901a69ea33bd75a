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
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, "\"…\"")
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

/** Structured JSON logs, one line per event; secrets redacted by field name, errors without stacks. */
export function createLogger(level: LogLevel = "info", base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stdout.write(l + "\n")): Logger {
  const emit = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...redact({ ...base, ...fields }) }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  };
}
