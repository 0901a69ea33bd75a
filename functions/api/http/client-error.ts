import type { Duplex } from "node:stream";
/**
 * Errors Node's HTTP parser answers before the app sees the request: headers over its 16 KB limit
 * get a 431 in the API's error shape (Node's default is a bare status line), others a 400.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) return void socket.destroy();
  const [status, text, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "headers_too_large", "request headers exceed 16 KB"]
      : [400, "Bad Request", "invalid_request", "malformed HTTP request"];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
