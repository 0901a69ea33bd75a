import { createHash } from "node:crypto";
import type { StreamingBlobStore } from "../storage/blob.js";
import { readManifest, setPrefix, type Manifest } from "./manifest.js";
import { scanObject } from "./gzip-object.js";

export interface Verification {
  ok: boolean;
  id: string;
  kind: Manifest["kind"];
  manifest: Manifest | null;
  checked: number;
  problems: { key: string; problem: string }[];
}

/**
 * Checks a set without restoring it: the manifest exists, and every object's sha256 and line
 * count match it (every object is read back in full). The result is stored beside the set.
 */
export async function verifySet(
  store: StreamingBlobStore,
  kind: Manifest["kind"],
  id: string,
  onObject?: (key: string) => void,
): Promise<Verification> {
  const prefix = setPrefix(kind, id);
  const raw = await store.get(`${prefix}manifest.json`);
  if (!raw)
    return {
      ok: false,
      id,
      kind,
      manifest: null,
      checked: 0,
      problems: [{ key: `${prefix}manifest.json`, problem: "missing: the set is incomplete" }],
    };
  const read = readManifest(raw);
  const problems: Verification["problems"] = read.problem ? [{ key: `${prefix}manifest.json`, problem: read.problem }] : [];
  if (!read.manifest) return { ok: false, id, kind, manifest: null, checked: 0, problems };
  const manifest = read.manifest;
  let checked = 0;
  for (const o of manifest.schema_objects ?? []) {
    const body = await store.get(o.key);
    const sum = body && createHash("sha256").update(body).digest("hex");
    if (sum !== o.sha256) problems.push({ key: o.key, problem: body ? "checksum mismatch" : "missing" });
    checked++;
  }
  const data = [...(manifest.tables ?? []).flatMap((t) => t.objects), ...(manifest.objects ?? [])];
  for (const o of data) {
    onObject?.(o.key);
    try {
      const r = await scanObject(await store.read(o.key));
      if (r.sha256 !== o.sha256) problems.push({ key: o.key, problem: "checksum mismatch" });
      else if (r.rows !== o.rows) problems.push({ key: o.key, problem: `row count ${r.rows}, manifest says ${o.rows}` });
    } catch (e) {
      problems.push({ key: o.key, problem: `unreadable (${(e as Error).name === "NoSuchKey" ? "missing" : (e as Error).message})` });
    }
    checked++;
  }
  for (const t of manifest.tables ?? []) {
    const sum = t.objects.reduce((s, o) => s + o.rows, 0);
    if (sum !== t.rows)
      problems.push({ key: `${prefix}manifest.json`, problem: `table ${t.name}: objects hold ${sum} rows, manifest says ${t.rows}` });
  }
  const result = { ok: problems.length === 0, id, kind, manifest, checked, problems };
  await store.put(
    `${prefix}verification.json`,
    JSON.stringify({ ok: result.ok, checked, problems, at: new Date().toISOString() }),
    "application/json",
  );
  return result;
}
