import { parseArgs } from "node:util";
import { generateKey, SCOPES, type Scope } from "@hitl/core";

/** `npm run keygen -- --id NAME --scopes a,b`: a new API key and its API_KEYS entry (only the hash is stored). */
const { values } = parseArgs({ options: { id: { type: "string" }, scopes: { type: "string" } } });
const scopes = (values.scopes ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
if (!values.id || !/^[A-Za-z0-9_.:-]{1,64}$/.test(values.id) || scopes.length === 0 || bad.length) {
  console.error(`usage: npm run keygen -- --id NAME --scopes ${SCOPES.join(",")}${bad.length ? `\nunknown scope(s): ${bad.join(", ")}` : ""}`);
  process.exit(2);
}
const { key, entry } = generateKey(values.id, scopes as Scope[]);
console.log(`key (give it to the client; it is not stored):\n  ${key}\nAPI_KEYS entry (add it to the JSON array):\n  ${JSON.stringify(entry)}`);
