import { describe, expect, it } from "vitest";
import { draftChanged, joinBubbles, normalizeWhitespace, promptMessages } from "./turns.js";

describe("joinBubbles", () => {
  it("joins bubbles with one space, blank bubbles dropped, text untouched", () => {
    expect(joinBubbles(["hey", "  ", "how are you?\nok"])).toBe("hey how are you?\nok");
    expect(joinBubbles([])).toBe("");
    expect(joinBubbles(null)).toBe("");
  });
});

describe("draftChanged", () => {
  it("is false for the same words re-split or re-spaced, true for other text", () => {
    expect(draftChanged(["hi there", "ok"], ["hi", "there ok"])).toBe(false);
    expect(draftChanged(["hi  there"], [" hi\u00a0there\n"])).toBe(false);
    expect(draftChanged(["hi there"], ["hi there!"])).toBe(true);
    expect(draftChanged(["Hi there"], ["hi there"])).toBe(true);
    expect(draftChanged([], ["hi"])).toBe(true);
  });
  it("normalises every Unicode white space run to one space", () => {
    expect(normalizeWhitespace("\t a \u2028\u3000 b \r\n")).toBe("a b");
  });
});

describe("promptMessages", () => {
  it("gives each earlier turn as user then assistant, oldest first, then this turn's user message", () => {
    expect(
      promptMessages(
        [
          { user_message: "u1", reply: ["a1", "a1b"] },
          { user_message: "u2", reply: ["a2"] },
        ],
        "u3",
      ),
    ).toEqual([
      { role: "user", content: "u1" },
      { role: "assistant", content: "a1 a1b" },
      { role: "user", content: "u2" },
      { role: "assistant", content: "a2" },
      { role: "user", content: "u3" },
    ]);
  });
  it("merges a user message no reply followed into the next one, so roles alternate", () => {
    expect(
      promptMessages(
        [
          { user_message: "u1", reply: null },
          { user_message: "u2", reply: ["a2"] },
          { user_message: "u3", reply: [] },
        ],
        "u4",
      ),
    ).toEqual([
      { role: "user", content: "u1\nu2" },
      { role: "assistant", content: "a2" },
      { role: "user", content: "u3\nu4" },
    ]);
  });
  it("without context is the user message alone", () => {
    expect(promptMessages([], "hello")).toEqual([{ role: "user", content: "hello" }]);
  });
});
