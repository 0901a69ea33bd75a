import { parseArgs } from "node:util";
import { generateKey, SCOPES, type Scope } from "@hitl/core";

/** `npm run keygen -- --id NAME --scopes a,b`: a new API key and its API_KEYS entry (only the hash is stored). */
const USAGE = `usage: npm run keygen -- --id NAME --scopes ${SCOPES.join(",")}
  Prints a new API key (give it to the client; it is not stored) and its API_KEYS entry (its SHA-256).
  --id      who holds the key: 1..64 characters of [A-Za-z0-9_.:-]
  --scopes  one or more of ${SCOPES.join(", ")}, comma-separated (admin passes every route)`;
let values: { id?: string; scopes?: string; help?: boolean };
try {
  ({ values } = parseArgs({ options: { id: { type: "string" }, scopes: { type: "string" }, help: { type: "boolean", short: "h" } } }));
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const scopes = (values.scopes ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
const problem = !values.id
  ? "--id is missing"
  : !/^[A-Za-z0-9_.:-]{1,64}$/.test(values.id)
    ? `--id ${JSON.stringify(values.id)} must be 1..64 characters of [A-Za-z0-9_.:-]`
    : bad.length
      ? `unknown scope(s): ${bad.join(", ")}`
      : scopes.length === 0
        ? "--scopes is missing"
        : undefined;
if (problem) {
  console.error(`${problem}\n${USAGE}`);
  process.exit(2);
}
const { key, entry } = generateKey(values.id!, scopes as Scope[]);
console.log(
  `key (give it to the client; it is not stored):\n  ${key}\nAPI_KEYS entry (add it to the JSON array):\n  ${JSON.stringify(entry)}`,
);
