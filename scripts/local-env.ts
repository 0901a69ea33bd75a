import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { generateKey, type ApiKeyEntry } from "@hitl/core";
import { stackSettings, type StackEndpoints } from "@hitl/devstack";

export const DATA_DIR = path.resolve(process.env.DATA_DIR ?? ".data");
export const STACK_FILE = path.join(DATA_DIR, "stack.json");
const LOCAL_KEY_FILE = path.join(DATA_DIR, "local-admin-key.json");

export interface StackFile extends StackEndpoints {
  apiUrl: string;
  pid: number;
  startedAt: string;
}

export async function readStackFile(): Promise<StackFile | undefined> {
  if (!existsSync(STACK_FILE)) return undefined;
  try {
    return JSON.parse(await readFile(STACK_FILE, "utf8")) as StackFile;
  } catch {
    return undefined;
  }
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running `npm start` stack, or undefined: a stack.json whose process is gone counts as none. */
export async function runningStack(): Promise<StackFile | undefined> {
  const s = await readStackFile();
  return s && isAlive(s.pid) ? s : undefined;
}

/** The local admin key: created once, kept under DATA_DIR (mode 600) so restarts keep it. */
export async function localAdminKey(): Promise<{ key: string; entry: ApiKeyEntry; created: boolean }> {
  if (existsSync(LOCAL_KEY_FILE))
    return { ...(JSON.parse(await readFile(LOCAL_KEY_FILE, "utf8")) as { key: string; entry: ApiKeyEntry }), created: false };
  const made = generateKey("local-admin", ["admin"]);
  await mkdir(DATA_DIR, { recursive: true });
  await writeFile(LOCAL_KEY_FILE, JSON.stringify(made, null, 2), { mode: 0o600 });
  return { ...made, created: true };
}

/** Tuning settings a person may set in the environment for `npm start`; endpoints always come from the stack. */
const PASS_THROUGH =
  /^(LOG_LEVEL|REDIS_PREFIX|REDIS_RETRIES|REDIS_TIMEOUT_MS|S3_TIMEOUT_MS|BREAKER_[A-Z_]+|PG_[A-Z_]+|MAX_BODY_BYTES|RATE_LIMIT_[A-Z_]+|LAMBDA_MARGIN_MS)$/;

/** Settings for the service on the local stack. */
export function localSettings(s: StackEndpoints, apiKeysJson: string): Record<string, string | undefined> {
  return {
    ...stackSettings(s),
    API_KEYS: apiKeysJson,
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => PASS_THROUGH.test(k))),
  };
}
