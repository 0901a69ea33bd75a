/**
 * Pure text logic of the training datasets (docs/DATASETS.md): how a reply's bubbles become one
 * assistant message, what counts as the reviewer having changed the draft, and how a turn and the
 * turns before it become chat messages. No I/O; unit-tested in turns.test.ts.
 */

/** Earlier turns of the same user given as context when the filters do not say. */
export const DEFAULT_CONTEXT_TURNS = 6;

/**
 * Bubbles are separate chat messages of one reply. The chat model of this system sees its own past
 * replies as the bubbles joined by one space (the memory history's `' '.join(bubbles)`,
 * REFERENCE.md), so a reply is one assistant message in that shape; `metadata.bubbles` keeps the count.
 */
export const BUBBLE_JOINER = " ";
/** Consecutive messages of one role (a user who wrote twice before a reply) are one message, lines joined. */
export const SAME_ROLE_JOINER = "\n";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One earlier turn: what the user wrote, and the reply approved for it (null: none was approved). */
export interface Turn {
  user_message: string;
  reply: readonly string[] | null;
}

/** A reply's bubbles as one message: blank bubbles dropped, the rest joined by BUBBLE_JOINER, text untouched. */
export function joinBubbles(bubbles: readonly string[] | null | undefined): string {
  return (bubbles ?? []).filter((b) => b.trim() !== "").join(BUBBLE_JOINER);
}

/** Runs of whitespace (any Unicode white space, line breaks included) as one space, ends trimmed. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/gu, " ").trim();
}

/**
 * The reviewer changed the draft: the approved reply's text differs from the draft's once both are
 * joined (joinBubbles) and whitespace-normalised. So a reply re-split into other bubbles with the
 * same words, or one that only changed spacing, is NOT a change (the chat model sees the same
 * text), whatever its edit tags say; the analytics' `edited` (arrays differ) counts those too.
 */
export function draftChanged(draft: readonly string[] | null | undefined, final: readonly string[] | null | undefined): boolean {
  return normalizeWhitespace(joinBubbles(final)) !== normalizeWhitespace(joinBubbles(draft));
}

/** Appends a message, merging it into the previous one when both have the same role. */
function push(out: ChatMessage[], m: ChatMessage): void {
  const last = out[out.length - 1];
  if (last && last.role === m.role) last.content = `${last.content}${SAME_ROLE_JOINER}${m.content}`;
  else out.push({ ...m });
}

/**
 * The prompt of a turn: each earlier turn (oldest first) as its user message then its approved reply
 * (a turn with no approved reply, rejected or still pending, gives its user message only), then this
 * turn's user message. Roles alternate: a user message that no reply followed is merged with the
 * next user message (SAME_ROLE_JOINER). Empty texts are left out.
 */
export function promptMessages(context: readonly Turn[], userMessage: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const t of context) {
    if (t.user_message.trim() !== "") push(out, { role: "user", content: t.user_message });
    const reply = joinBubbles(t.reply);
    if (reply !== "") push(out, { role: "assistant", content: reply });
  }
  push(out, { role: "user", content: userMessage });
  return out;
}
