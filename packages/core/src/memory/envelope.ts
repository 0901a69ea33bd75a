import { crc32 } from "node:zlib";
import { COMPRESS_THRESHOLD_BYTES, DEFAULT_CODEC, compress, decompress, type Codec } from "./codec.js";

/**
 * Every cached memory value is wrapped: `1|<codec>|<crc32 of the uncompressed bytes, hex>|<payload>`.
 * The payload is the text itself for codec `n`, base64 of the compressed bytes for `d` / `b`
 * (Redis values travel as text through the REST API).
 */
export const ENVELOPE_VERSION = "1";
const CODE: Record<Codec, string> = { none: "n", deflate: "d", brotli: "b" };
const CODEC_OF: Record<string, Codec> = { n: "none", d: "deflate", b: "brotli" };

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

export interface Encoded {
  envelope: string;
  codec: Codec;
  rawBytes: number;
  storedBytes: number;
}

export function encodeEnvelope(text: string, codec: Codec = DEFAULT_CODEC, threshold = COMPRESS_THRESHOLD_BYTES): Encoded {
  const raw = Buffer.from(text, "utf8");
  const chosen: Codec = raw.length > threshold ? codec : "none";
  const sum = crc32(raw).toString(16).padStart(8, "0");
  const payload = chosen === "none" ? text : compress(chosen, raw).toString("base64");
  const envelope = `${ENVELOPE_VERSION}|${CODE[chosen]}|${sum}|${payload}`;
  return { envelope, codec: chosen, rawBytes: raw.length, storedBytes: Buffer.byteLength(envelope) };
}

/** The original text; throws EnvelopeError on a bad header, a decode failure or a checksum mismatch. */
export function decodeEnvelope(envelope: string): string {
  const a = envelope.indexOf("|");
  const b = envelope.indexOf("|", a + 1);
  const c = envelope.indexOf("|", b + 1);
  if (a < 0 || b < 0 || c < 0) throw new EnvelopeError("malformed envelope");
  const [version, code, sum] = [envelope.slice(0, a), envelope.slice(a + 1, b), envelope.slice(b + 1, c)];
  const codec = CODEC_OF[code];
  if (version !== ENVELOPE_VERSION || !codec || !/^[0-9a-f]{8}$/.test(sum)) throw new EnvelopeError("unknown envelope header");
  const payload = envelope.slice(c + 1);
  let raw: Buffer;
  try {
    raw = codec === "none" ? Buffer.from(payload, "utf8") : decompress(codec, Buffer.from(payload, "base64"));
  } catch (e) {
    throw new EnvelopeError(`payload does not decode (${(e as Error).message})`);
  }
  if (crc32(raw).toString(16).padStart(8, "0") !== sum) throw new EnvelopeError("checksum mismatch");
  return raw.toString("utf8");
}
