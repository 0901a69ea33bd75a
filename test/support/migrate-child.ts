// A migration runner in its own process (test/migrate-interrupted.test.ts freezes it halfway).
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";

useLocalNeonProxy(process.env.NEON_PROXY_URL!);
await migrate(process.env.DATABASE_URL!, { dir: process.env.MIGRATIONS_DIR!, idleTimeoutMs: Number(process.env.IDLE_TIMEOUT_MS) });
console.log("done");
