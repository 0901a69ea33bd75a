/**
 * `npm run keys -- create|list|revoke|rotate`: API keys stored in Postgres (README, "API keys").
 * Runs against the cloud database when DATABASE_URL is set (HITL_MODE unset), else the local stack.
 */
import os from "node:os";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  CreateKeyBody,
  createKey,
  DEFAULT_GRACE_SECONDS,
  KeyId,
  listKeys,
  MAX_GRACE_SECONDS,
  revokeKey,
  rotateKey,
  SCOPES,
  type ApiKey,
  type Db,
} from "@hitl/core";

export const USAGE = `usage: npm run keys -- <command> [options]
  create --name NAME --scopes ${SCOPES.join(",")} [--expires ISO-TIME | --expires-in 90d] [--rate-limit REQUESTS/SECONDS]
         prints the new key ONCE (only its SHA-256 is stored); NAME is its principal (the reviewer id)
  list   [--all] [--json]            live keys (--all: revoked ones too); never a key nor its hash
  revoke KEY_ID                      refused by every API instance within API_KEY_MAX_AGE_MS (30 s)
  rotate KEY_ID [--grace-seconds N]  a new key (printed once); the old one stays valid N s (default ${DEFAULT_GRACE_SECONDS}, at most ${MAX_GRACE_SECONDS})
  --by WHO   recorded as the actor in the audit (default cli:<os user>)`;

export class UsageError extends Error {
  override name = "UsageError";
}

export interface KeysCliDeps {
  db: Db;
  reservedNames: readonly string[];
  maxAgeMs: number;
  out: (line: string) => void;
}

const DURATION = /^(\d{1,6})(s|m|h|d)$/;
const UNIT = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

function fromDuration(v: string): string {
  const m = DURATION.exec(v);
  if (!m) throw new UsageError(`--expires-in ${JSON.stringify(v)} must be a number and s, m, h or d (e.g. 90d)`);
  return new Date(Date.now() + Number(m[1]) * UNIT[m[2] as keyof typeof UNIT] * 1000).toISOString();
}

const row = (k: ApiKey) =>
  [
    k.id,
    k.name.padEnd(20),
    k.state.padEnd(8),
    k.scopes.join(",").padEnd(16),
    k.expires_at ?? "never",
    k.last_used_at ?? "never used",
    k.rate_limit ? `${k.rate_limit.requests}/${k.rate_limit.window_seconds}s` : "-",
  ].join("  ");

/** Runs one command; a UsageError for bad arguments (exit 2). */
export async function keysCommand(argv: string[], deps: KeysCliDeps): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: "string" },
        scopes: { type: "string" },
        expires: { type: "string" },
        "expires-in": { type: "string" },
        "rate-limit": { type: "string" },
        all: { type: "boolean" },
        json: { type: "boolean" },
        "grace-seconds": { type: "string" },
        by: { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const {
    values: v,
    positionals: [command, id, ...rest],
  } = parsed;
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const by = v.by ?? `cli:${os.userInfo().username}`;
  const keyId = () => {
    const r = KeyId.safeParse(id);
    if (!r.success)
      throw new UsageError(
        id ? `${JSON.stringify(id)} is not a key id (key_ and 24 hex digits; see npm run keys -- list)` : `${command} needs a KEY_ID`,
      );
    return r.data;
  };
  switch (command) {
    case "create": {
      if (id) throw new UsageError(`unexpected argument ${JSON.stringify(id)}`);
      if (v.expires && v["expires-in"]) throw new UsageError("give --expires or --expires-in, not both");
      const rate = v["rate-limit"] === undefined ? undefined : /^(\d+)\/(\d+)s?$/.exec(v["rate-limit"]);
      if (rate === null) throw new UsageError("--rate-limit must be REQUESTS/SECONDS, e.g. 600/60");
      const body = CreateKeyBody.safeParse({
        name: v.name,
        scopes: v.scopes
          ?.split(",")
          .map((s) => s.trim())
          .filter(Boolean),
        ...(v.expires || v["expires-in"] ? { expires_at: v.expires ?? fromDuration(v["expires-in"]!) } : {}),
        ...(rate ? { rate_limit: { requests: Number(rate[1]), window_seconds: Number(rate[2]) } } : {}),
      });
      if (!body.success) {
        const issue = body.error.issues[0]!;
        throw new UsageError(
          `--${String(issue.path[0] ?? "name")
            .replace("expires_at", "expires")
            .replace("rate_limit", "rate-limit")}: ${issue.code === "invalid_type" ? "is missing" : issue.message}`,
        );
      }
      const issued = await createKey(deps, body.data, by);
      deps.out(
        `key (shown this once; only its SHA-256 is stored):\n  ${issued.key}\n${row(issued.api_key)}\nevery API instance accepts it by ${issued.active_everywhere_by}`,
      );
      return;
    }
    case "list": {
      if (id) throw new UsageError(`unexpected argument ${JSON.stringify(id)}`);
      const keys = await listKeys(deps.db, { includeRevoked: v.all });
      if (v.json) return deps.out(JSON.stringify(keys, null, 2));
      deps.out(keys.length ? keys.map(row).join("\n") : "no stored keys (bootstrap keys live in the ApiKeys secret)");
      return;
    }
    case "revoke": {
      const k = await revokeKey(deps.db, keyId(), by);
      deps.out(`${row(k)}\nrevoked at ${k.revoked_at}: every API instance refuses it within ${deps.maxAgeMs / 1000} s`);
      return;
    }
    case "rotate": {
      const grace = v["grace-seconds"] === undefined ? DEFAULT_GRACE_SECONDS : Number(v["grace-seconds"]);
      if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS)
        throw new UsageError(`--grace-seconds must be an integer from 0 to ${MAX_GRACE_SECONDS}`);
      const issued = await rotateKey(deps, keyId(), grace, by);
      deps.out(
        `new key (shown this once):\n  ${issued.key}\n${row(issued.api_key)}\nthe old key ${issued.previous.id} stays valid until ${issued.previous.expires_at}`,
      );
      return;
    }
    default:
      throw new UsageError(command ? `unknown command ${JSON.stringify(command)}` : "no command");
  }
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) return void console.log(USAGE);
  const { cliConfig } = await import("./cli-env.js");
  const { createServices, AppError } = await import("@hitl/core");
  const { config, stop } = await cliConfig();
  const services = createServices({ ...config, logLevel: "error" });
  try {
    await keysCommand(argv, {
      db: services.db,
      reservedNames: config.apiKeys.map((k) => k.id),
      maxAgeMs: config.apiKeyMaxAgeMs,
      out: (l) => console.log(l),
    });
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (e instanceof AppError) {
      console.error(e.message);
      process.exitCode = 1;
    } else throw e;
  } finally {
    await stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
