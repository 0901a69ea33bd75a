import type { HistoryEntry } from "./history.js";

/**
 * The temporal summary of older messages (REFERENCE.md section 4): a time label per message, the
 * first mention of each topic in user messages, and assistant crutch phrases used twice or more.
 * Pure: the clock is a parameter.
 */
const TOPICS: { words: string[]; text: string }[] = [
  { words: ["work", "job", "profession", "occupation"], text: "Discussed work/profession" },
  { words: ["family", "mother", "father", "sister", "brother"], text: "Talked about family" },
  { words: ["hobby", "like to", "enjoy", "fun"], text: "Shared hobbies/interests" },
];
export const CRUTCH_PHRASES = ["tell me more", "that sounds", "how interesting", "fascinating", "wow", "amazing"];
const MAX_POINTS = 5;

export function timeLabel(timestamp: string | undefined, now: Date): string {
  const t = timestamp ? Date.parse(timestamp) : NaN;
  if (!Number.isFinite(t)) return "Earlier";
  const s = (now.getTime() - t) / 1000;
  if (s < 300) return "Just now";
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 7200) return "1 hour ago";
  if (s < 86_400) return `${Math.floor(s / 3600)} hours ago`;
  if (s < 172_800) return "Yesterday";
  if (s < 7 * 86_400) return `${Math.floor(s / 86_400)} days ago`;
  return "Over a week ago";
}

export function temporalSummary(messages: Pick<HistoryEntry, "role" | "content" | "timestamp">[], now: Date): string {
  const points: string[] = [];
  const seen = new Set<string>();
  const phraseCounts = new Map<string, number>();
  for (const m of messages) {
    const text = m.content.toLowerCase();
    if (m.role === "user") {
      for (const topic of TOPICS) {
        if (!seen.has(topic.text) && topic.words.some((w) => text.includes(w))) {
          seen.add(topic.text);
          points.push(`${timeLabel(m.timestamp, now)}: ${topic.text}`);
        }
      }
    } else {
      for (const p of CRUTCH_PHRASES) if (text.includes(p)) phraseCounts.set(p, (phraseCounts.get(p) ?? 0) + 1);
    }
  }
  for (const p of CRUTCH_PHRASES) {
    const n = phraseCounts.get(p) ?? 0;
    if (n >= 2) points.push(`Note: Used '${p}' ${n} times recently`);
  }
  if (points.length === 0) return "- First conversation with this user";
  return points
    .slice(0, MAX_POINTS)
    .map((p) => `- ${p}`)
    .join("\n");
}

/** Anti-interrogation: did the last assistant message among the recent ones ask a question? */
export function lastAssistantAskedQuestion(recent: Pick<HistoryEntry, "role" | "content">[]): boolean {
  for (let i = recent.length - 1; i >= 0; i--) if (recent[i]!.role === "assistant") return recent[i]!.content.includes("?");
  return false;
}
