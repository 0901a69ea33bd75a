import { z } from "zod";

/** The response schemas of the reports (named in the OpenAPI document). */
const num = z.number();
const nnum = z.number().nullable();

export const Freshness = z
  .object({
    rollups_as_of: z.string().nullable().describe("rows changed before this instant are in the rollups (null: the rollup job has not run)"),
    live_from: z.string().nullable().describe("figures from this instant on are counted live from the interactions (null: none)"),
    generated_at: z.string().describe("when this answer was computed (answers are cached 5 minutes)"),
  })
  .meta({ id: "ReportFreshness" });

const report = <T extends z.ZodRawShape>(id: string, description: string, shape: T) =>
  z.object({ freshness: Freshness, ...shape }).meta({ id, description });

export const REPORT_SCHEMAS = {
  volume: report("VolumeReport", "Interactions by local day and by local hour", {
    total: num,
    by_day: z.array(z.object({ day: z.string(), interactions: num })),
    by_hour: z.array(z.object({ hour: z.string(), interactions: num })),
  }),
  reviews: report("ReviewsReport", "Review outcomes and review-time percentiles (estimated within the histogram's bins)", {
    outcomes: z.object({
      interactions: num,
      approved: num,
      rejected: num,
      not_reviewed: num,
      edited: num,
      approval_rate: nnum,
      edit_rate: nnum,
    }),
    review_time: z.object({
      reviewed: num,
      avg_seconds: nnum,
      p50_seconds: nnum,
      p90_seconds: nnum,
      p99_seconds: nnum,
      histogram: z.array(z.object({ le: nnum.describe("upper bound in seconds; null: the open last bin"), count: num })),
    }),
  }),
  quality: report("QualityReport", "The quality histogram", {
    rated: num,
    average: nnum,
    histogram: z.array(z.object({ score: num, count: num })),
  }),
  cta: report("CtaReport", "CTA types and response types", {
    cta_types: z.array(z.object({ type: z.string(), count: num })),
    response_types: z.array(z.object({ type: z.string(), count: num })),
  }),
  funnel: report("FunnelReport", "Users first recorded in the range, by the furthest funnel stage reached (current status)", {
    stages: z.array(z.object({ stage: z.string(), users: num, rate_from_previous: nnum })),
    by_status: z.array(z.object({ status: z.string(), users: num })),
  }),
  cost: report("CostReport", "Cost by day and by model pair, and what silenced users saved", {
    total_usd: num,
    interactions: num,
    by_day: z.array(z.object({ day: z.string(), cost_usd: num, llm1_usd: num, llm2_usd: num, interactions: num })),
    by_model: z.array(z.object({ llm1_model: z.string().nullable(), llm2_model: z.string().nullable(), interactions: num, cost_usd: num })),
    silenced: z.object({
      messages_quarantined: num.describe("quarantined in the range"),
      estimated_saved_usd: num.describe("those messages at the range's average cost"),
      recorded_saved_usd_all_time: num,
    }),
  }),
  "edit-tags": report("EditTagsReport", "Per edit tag: frequency, average quality and average review time", {
    tags: z.array(z.object({ tag: z.string(), count: num, avg_quality: nnum, avg_review_time_seconds: nnum })),
  }),
  users: report("UsersReport", "Per-user metrics (the 100 busiest users), over the whole UTC days the range touches", {
    users: z.array(
      z.object({
        user_id: z.string(),
        interactions: num,
        approved: num,
        rejected: num,
        edited: num,
        avg_quality: nnum,
        cost_usd: num,
        last_interaction_at: z.string(),
      }),
    ),
  }),
  reviewers: report("ReviewersReport", "Reviewer throughput: items reviewed, approval rate and average review time", {
    reviewers: z.array(
      z.object({
        reviewer_id: z.string(),
        reviewed: num,
        approved: num,
        rejected: num,
        approval_rate: nnum,
        avg_review_time_seconds: nnum,
      }),
    ),
  }),
} as const;
