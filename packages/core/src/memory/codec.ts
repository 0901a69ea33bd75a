import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from "node:zlib";

/**
 * Lossless codecs for cached values. Brotli at quality 2 is the default, chosen by measurement on
 * the bench corpus (~100 KB chat contexts, `npm run bench -- memory`), per 100 KB:
 *   brotli q1 69.0% smaller 0.32 ms | q2 71.7% 0.63 ms | q3 71.4% 0.79 ms | q4 71.6% 1.25 ms
 *   deflate l1 69.3% 0.64 ms | l3 70.3% 1.09 ms | l5 71.9% 1.84 ms
 * q2 is the only setting that is both >= 70% smaller and under 1 ms. All from node:zlib.
 */
export type Codec = "none" | "deflate" | "brotli";

/** Values at or under this size are stored as they are: compressing them costs more than it saves. */
export const COMPRESS_THRESHOLD_BYTES = 1024;
export const DEFAULT_CODEC: Codec = "brotli";
const DEFLATE_LEVEL = 3;
const BROTLI_QUALITY = 2;

export function compress(codec: Codec, data: Buffer): Buffer {
  switch (codec) {
    case "none":
      return data;
    case "deflate":
      return deflateRawSync(data, { level: DEFLATE_LEVEL });
    case "brotli":
      return brotliCompressSync(data, {
        params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      });
  }
}

export function decompress(codec: Codec, data: Buffer): Buffer {
  switch (codec) {
    case "none":
      return data;
    case "deflate":
      return inflateRawSync(data);
    case "brotli":
      return brotliDecompressSync(data);
  }
}
