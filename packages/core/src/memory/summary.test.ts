import { describe, expect, it } from "vitest";
import { lastAssistantAskedQuestion, temporalSummary, timeLabel } from "./summary.js";

const now = new Date("2026-11-25T12:00:00Z");
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();

describe("temporal summary", () => {
  it.each([
    [60, "Just now"],
    [299, "Just now"],
    [300, "5 minutes ago"],
    [3599, "59 minutes ago"],
    [3600, "1 hour ago"],
    [7199, "1 hour ago"],
    [7200, "2 hours ago"],
    [86_399, "23 hours ago"],
    [86_400, "Yesterday"],
    [172_799, "Yesterday"],
    [172_800, "2 days ago"],
    [6 * 86_400, "6 days ago"],
    [7 * 86_400, "Over a week ago"],
  ])("labels %i s ago as %s", (s, label) => expect(timeLabel(ago(s), now)).toBe(label));

  it("labels a missing or unparseable timestamp Earlier", () => {
    expect(timeLabel(undefined, now)).toBe("Earlier");
    expect(timeLabel("not a date", now)).toBe("Earlier");
  });

  it("notes each topic once, at its first mention, then repeated assistant phrases", () => {
    const s = temporalSummary(
      [
        { role: "user", content: "I hate my JOB", timestamp: ago(3 * 3600) },
        { role: "assistant", content: "Wow, tell me more", timestamp: ago(3 * 3600) },
        { role: "user", content: "my job again, and my sister", timestamp: ago(86_400 + 10) },
        { role: "assistant", content: "wow! Tell me more about her", timestamp: ago(100) },
        { role: "user", content: "I enjoy hiking", timestamp: undefined as unknown as string },
        { role: "assistant", content: "That sounds fun", timestamp: ago(50) },
      ],
      now,
    );
    expect(s).toBe(
      [
        "- 3 hours ago: Discussed work/profession",
        "- Yesterday: Talked about family",
        "- Earlier: Shared hobbies/interests",
        "- Note: Used 'tell me more' 2 times recently",
        "- Note: Used 'wow' 2 times recently",
      ].join("\n"),
    );
  });

  it("keeps at most 5 points", () => {
    const msgs = [
      { role: "user" as const, content: "work family hobby", timestamp: ago(10) },
      ...["tell me more", "that sounds", "how interesting"].flatMap((p) => [
        { role: "assistant" as const, content: p, timestamp: ago(5) },
        { role: "assistant" as const, content: p, timestamp: ago(5) },
      ]),
    ];
    expect(temporalSummary(msgs, now).split("\n")).toHaveLength(5);
  });

  it("says first conversation when nothing stands out", () => {
    expect(temporalSummary([], now)).toBe("- First conversation with this user");
    expect(temporalSummary([{ role: "user", content: "hi", timestamp: ago(1) }], now)).toBe("- First conversation with this user");
  });

  it("flags the anti-interrogation rule from the last assistant message only", () => {
    expect(
      lastAssistantAskedQuestion([
        { role: "assistant", content: "how are you?" },
        { role: "user", content: "fine?" },
      ]),
    ).toBe(true);
    expect(
      lastAssistantAskedQuestion([
        { role: "assistant", content: "why?" },
        { role: "assistant", content: "ok." },
      ]),
    ).toBe(false);
    expect(lastAssistantAskedQuestion([{ role: "user", content: "what?" }])).toBe(false);
  });
});
