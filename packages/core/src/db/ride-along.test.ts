import { describe, expect, it } from "vitest";
import { RideAlong, boardWrite, isWrite, rideAlongScope } from "./ride-along.js";

const row = { text: "INSERT INTO audit_log (kind) VALUES ('request') RETURNING id", params: [] };

describe("RideAlong", () => {
  it("boards the first write of its scope only, and close() answers what that write reported", async () => {
    const ride = new RideAlong(() => row);
    await rideAlongScope.run(ride, async () => {
      expect(boardWrite([{ text: "SELECT 1" }])).toBeUndefined();
      const first = boardWrite([{ text: "UPDATE t SET a = 1" }]);
      expect(first?.statement).toBe(row);
      expect(boardWrite([{ text: "DELETE FROM t" }])).toBeUndefined();
      first!.settle({ id: "7" });
    });
    expect(await ride.close()).toEqual({ id: "7" });
  });

  it("after close() nothing boards; a write that failed reports undefined; outside a scope nothing rides", async () => {
    const failed = new RideAlong(() => row);
    await rideAlongScope.run(failed, async () => boardWrite([{ text: "INSERT INTO t VALUES (1)" }])!.settle(undefined));
    expect(await failed.close()).toBeUndefined();

    const closed = new RideAlong(() => row);
    expect(await closed.close()).toBeUndefined();
    await rideAlongScope.run(closed, async () => expect(boardWrite([{ text: "INSERT INTO t VALUES (1)" }])).toBeUndefined());

    const nothing = new RideAlong(() => undefined);
    await rideAlongScope.run(nothing, async () => expect(boardWrite([{ text: "INSERT INTO t VALUES (1)" }])).toBeUndefined());
    expect(boardWrite([{ text: "INSERT INTO t VALUES (1)" }])).toBeUndefined();
    // Work started outside the request (a background reload) does not see the request's ride.
    const ride = new RideAlong(() => row);
    await rideAlongScope.run(ride, async () =>
      rideAlongScope.exit(() => expect(boardWrite([{ text: "UPDATE t SET a = 1" }])).toBeUndefined()),
    );
  });

  it("tells writes from reads by their statement", () => {
    for (const w of [
      "insert into t values (1)",
      "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
      "DELETE FROM t",
      "MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING",
    ])
      expect(isWrite(w), w).toBe(true);
    for (const r of ["SELECT updated_at, deleted FROM t", "SELECT 1", "SELECT inserted_at FROM t"]) expect(isWrite(r), r).toBe(false);
  });
});
