import pg from "pg";

/** One statement on a connection of its own (not the app's driver): a test's set-up and its checks. */
export async function directSql(databaseUrl: string, text: string, params: unknown[] = []): Promise<any[]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** A response's JSON, untyped: the test asserts its shape. */
export const json = async (res: Response | Promise<Response>) => (await (await res).json()) as any;
