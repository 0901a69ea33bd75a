/**
 * Writes the API's OpenAPI document to docs/openapi.json, its Markdown reference to docs/API.md and
 * the typed client's schema to packages/client/src/schema.ts, all from the routes themselves.
 * `npm run openapi` after changing a route; a test fails while any of the three is out of date.
 */
import { writeFileSync } from "node:fs";
import { renderArtifacts } from "./openapi-artifacts.js";

for (const [file, text] of Object.entries(await renderArtifacts())) {
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
}
