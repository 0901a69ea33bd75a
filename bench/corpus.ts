/**
 * A deterministic corpus of realistic memory contexts (~100 KB of JSON each): profile and
 * metadata keys, a long list of conversation summaries, extracted facts and free-form notes, in
 * chat-like English (a Zipf-distributed vocabulary), as the LLM pipeline writes them.
 */
const VOCAB = `i you the a to and it is that of me my in so what for just do not this be have was on are like but
with your know yeah can how all we love at about too he she they get would really if one good think time
go out up when now no more well want see day night lol ok oh haha work job home friend friends family mom dad
sister brother weekend tonight tomorrow today music song movie food coffee beer tacos city trip travel beach
gym run book read game play watch talk chat message call meet date dinner lunch pretty cute fun funny happy sad
tired busy free late early soon always never maybe sure right nice cool great amazing wow interesting tell more
favorite best first last new old little big long hard easy better feel feeling remember miss need hope wish
dream guess mean said says told ask asked question answer because why where who which there here then than
something anything nothing everything someone anyone people life world place house room car phone picture photo`.split(/\s+/);

let seed = 42;
const rnd = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
/** Zipf-like: low ranks (common words) far more often. */
const word = () => VOCAB[Math.min(VOCAB.length - 1, Math.floor(VOCAB.length * rnd() ** 2.2))]!;
const sentence = (n: number) => Array.from({ length: n }, word).join(" ") + ".";
const paragraph = (sentences: number) => Array.from({ length: sentences }, () => sentence(6 + Math.floor(rnd() * 10))).join(" ");
const iso = (hoursAgo: number) => new Date(Date.UTC(2026, 10, 25, 12) - hoursAgo * 3_600_000).toISOString();

export function generateContext(targetBytes = 100 * 1024, s = 42): Record<string, unknown> {
  seed = s;
  const ctx: Record<string, unknown> = {
    name: "Ana",
    age: 29,
    location: "Monterrey, MX",
    occupation: "graphic designer",
    preferences: { music: ["jazz", "indie rock"], food: ["tacos", "ramen"], pets: "cat", tone: "playful" },
    first_interaction: iso(24 * 60),
    last_interaction: iso(1),
    total_messages: 1840,
    conversation_summary: [] as unknown[],
    facts: [] as unknown[],
    notes: [] as unknown[],
    topics: {} as Record<string, number>,
  };
  const summaries = ctx.conversation_summary as unknown[];
  const facts = ctx.facts as unknown[];
  const notes = ctx.notes as unknown[];
  let i = 0;
  while (JSON.stringify(ctx).length < targetBytes) {
    if (i % 3 === 0) summaries.push({ at: iso(i * 6), mood: ["happy", "tired", "flirty", "curious"][i % 4], summary: paragraph(4) });
    else if (i % 3 === 1)
      facts.push({ key: `fact_${i}`, value: sentence(10), source: "user", confidence: Math.round(rnd() * 100) / 100, at: iso(i * 6) });
    else notes.push({ at: iso(i * 6), text: paragraph(2) });
    (ctx.topics as Record<string, number>)[word()] = i;
    i++;
  }
  return ctx;
}

export function generateHistory(messages = 50, s = 7): { role: "user" | "assistant"; content: string; timestamp: string }[] {
  seed = s;
  return Array.from({ length: messages }, (_, i) => ({
    role: i % 2 ? ("assistant" as const) : ("user" as const),
    content: paragraph(1 + (i % 3)),
    timestamp: iso(messages - i),
  }));
}
