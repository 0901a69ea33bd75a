import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from "node:zlib";

/**
 * Lossless codecs for cached values. `deflate` (raw DEFLATE, level 3) is the default: measured by
 * `npm run bench -- memory` on ~100 KB contexts it keeps the size target (>= 70% smaller) at well
 * under 1 ms per 100 KB, where brotli gains a few points of ratio for about twice the time and
 * level 6+ deflate costs 3x the time for ~1 point (figures in bench-results.json).
 */
export type Codec = "none" | "deflate" | "brotli";

/** Values at or under this size are stored as they are: compressing them costs more than it saves. */
export const COMPRESS_THRESHOLD_BYTES = 1024;
export const DEFAULT_CODEC: Codec = "deflate";
const DEFLATE_LEVEL = 3;
const BROTLI_QUALITY = 4;

export function compress(codec: Codec, data: Buffer): Buffer {
  switch (codec) {
    case "none": return data;
    case "deflate": return deflateRawSync(data, { level: DEFLATE_LEVEL });
    case "brotli": return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
  }
}

export function decompress(codec: Codec, data: Buffer): Buffer {
  switch (codec) {
    case "none": return data;
    case "deflate": return inflateRawSync(data);
    case "brotli": return brotliDecompressSync(data);
  }
}
