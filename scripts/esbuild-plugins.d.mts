import type { Plugin } from "esbuild";
export const zodEnglishOnly: Plugin;
export const zodUnusedParts: Plugin;
export const promClientCoreOnly: Plugin;
export const EXTERNAL: string[];
declare const plugins: Plugin[];
export default plugins;
