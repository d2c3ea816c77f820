-- episode_intervals (shared view): every measurable interval of the threshold table,
-- per episode of a case.
--
-- For each interval of `thresholds` (requested -> performed, performed -> reported,
-- ...) and each episode holding both steps: the time from the first `from` step to the
-- first `to` step, in days. An episode's urgency is the most urgent one recorded on
-- any of its events ("missing" when none is); the threshold is the one for that urgency
-- (or "any"). When either step has no time of day the interval is measured midnight to
-- midnight and the interval's date-only threshold applies where it has one (the
-- one-hour critical alert: same day). When either step is known only to the month or
-- the year (occurred_at_precision), the interval cannot be measured: `to_the_day` is
-- false and `days` (so `over_threshold`) is null. `days` is negative when the `to` step
-- comes first (out of order).
-- Columns: case_key, episode, urgency, urgency_rank (1 critical to 4 routine, 5
--          missing), interval_no, from_event, to_event, to_the_day, days,
--          threshold_days, over_threshold (days > threshold_days).
-- Portability: EXTRACT(EPOCH FROM ts) is DataFusion's and DuckDB's (Spark:
-- unix_timestamp(ts)); the operators <<, & and | are DataFusion's and DuckDB's (Spark:
-- shiftleft, &, |).
-- From the shared view episodes (one row per episode: its steps' first times, its
-- urgency's rank and its flags, whose bits say which steps it has and how detailed each
-- step's records are). Each episode meets its threshold rows by comparing integers, in
-- one test: (flags | urgency bit) & needed = needed, where `needed` holds the bits of
-- both steps and bit 40 + the rule's urgency rank. It is deliberately not an equi-join
-- on the rank: DataFusion would hash-partition the episodes on their five ranks, and
-- one of its two partitions got three quarters of the pairs (routine is most of them),
-- so the rest of the work ran on one core. Against the few rules held in memory, each
-- partition of episodes keeps its own rows.
-- A step's time is picked by a tree of two-way CASEs on the step's number rather than
-- one ten-way CASE: DataFusion 55 evaluates a CASE branch by branch, filtering every
-- column the CASE reads at each branch, and the tree reads fewer columns in fewer
-- branches (half the time, docs/benchmarks.md).
-- The VALUES list numbers every event kind of the spec (bundle-v1), as episodes does.
WITH step_numbers AS (
    SELECT * FROM (VALUES
                ('requested', 0),
                ('performed', 1),
                ('reviewed', 2),
                ('reported', 3),
                ('alert_raised', 4),
                ('alert_acknowledged', 5),
                ('acted_on', 6),
                ('patient_informed', 7),
                ('diagnosed', 8),
                ('learning_review', 9)
    ) AS s(event, step)
),
rules AS (
    -- Each threshold row once per urgency it applies to ("any": every urgency of the
    -- spec, and "missing"), with its steps' numbers and the flags an episode needs for
    -- the interval (both steps, and the urgency's bit).
    SELECT u.urgency_rank,
           u.urgency,
           th.interval_no,
           th.from_event,
           th.to_event,
           th.threshold_hours,
           th.date_only_hours,
           f.step AS from_step,
           t.step AS to_step,
           (CAST(16777216 AS BIGINT) << f.step) | (CAST(16777216 AS BIGINT) << t.step)
               | (CAST(1 AS BIGINT) << (40 + u.urgency_rank)) AS needed
    FROM thresholds th
    JOIN (SELECT 1 AS urgency_rank, 'critical' AS urgency UNION ALL
          SELECT 2, 'urgent' UNION ALL SELECT 3, 'significant' UNION ALL
          SELECT 4, 'routine' UNION ALL SELECT 5, 'missing') u
      ON th.urgency = 'any' OR th.urgency = u.urgency
    JOIN step_numbers f ON f.event = th.from_event
    JOIN step_numbers t ON t.event = th.to_event
),
pairs AS (
    -- Each episode meets the (few) threshold rows for its urgency whose two steps it
    -- has; the small table is on the left, so it is the one held in memory. The
    -- episode's urgency rank r becomes bit 40 + r beside its flags (bits 0 to 33).
    SELECT e.case_key,
           e.episode,
           th.urgency,
           th.urgency_rank,
           th.interval_no,
           th.from_event,
           th.to_event,
           th.threshold_hours,
           th.date_only_hours,
           CASE WHEN th.from_step < 5
                THEN CASE WHEN th.from_step < 2
                          THEN CASE WHEN th.from_step < 1
                                    THEN e.requested_at
                                    ELSE e.performed_at END
                          ELSE CASE WHEN th.from_step < 3
                                    THEN e.reviewed_at
                                    ELSE CASE WHEN th.from_step < 4
                                              THEN e.reported_at
                                              ELSE e.alert_raised_at END END END
                ELSE CASE WHEN th.from_step < 7
                          THEN CASE WHEN th.from_step < 6
                                    THEN e.alert_acknowledged_at
                                    ELSE e.acted_on_at END
                          ELSE CASE WHEN th.from_step < 8
                                    THEN e.patient_informed_at
                                    ELSE CASE WHEN th.from_step < 9
                                              THEN e.diagnosed_at
                                              ELSE e.learning_review_at END END END END AS from_at,
           CASE WHEN th.to_step < 5
                THEN CASE WHEN th.to_step < 2
                          THEN CASE WHEN th.to_step < 1
                                    THEN e.requested_at
                                    ELSE e.performed_at END
                          ELSE CASE WHEN th.to_step < 3
                                    THEN e.reviewed_at
                                    ELSE CASE WHEN th.to_step < 4
                                              THEN e.reported_at
                                              ELSE e.alert_raised_at END END END
                ELSE CASE WHEN th.to_step < 7
                          THEN CASE WHEN th.to_step < 6
                                    THEN e.alert_acknowledged_at
                                    ELSE e.acted_on_at END
                          ELSE CASE WHEN th.to_step < 8
                                    THEN e.patient_informed_at
                                    ELSE CASE WHEN th.to_step < 9
                                              THEN e.diagnosed_at
                                              ELSE e.learning_review_at END END END END AS to_at,
           CASE WHEN (e.flags & (CAST(1 AS BIGINT) << (2 * th.from_step))) <> 0 THEN 0
                WHEN (e.flags & (CAST(2 AS BIGINT) << (2 * th.from_step))) <> 0 THEN 1
                ELSE 2 END AS from_detail,
           CASE WHEN (e.flags & (CAST(1 AS BIGINT) << (2 * th.to_step))) <> 0 THEN 0
                WHEN (e.flags & (CAST(2 AS BIGINT) << (2 * th.to_step))) <> 0 THEN 1
                ELSE 2 END AS to_detail
    FROM rules th
    JOIN episodes e
      ON ((e.flags | (CAST(1 AS BIGINT) << (40 + e.urgency_rank))) & th.needed) = th.needed
),
measured AS (
    SELECT case_key,
           episode,
           urgency,
           urgency_rank,
           interval_no,
           from_event,
           to_event,
           from_detail > 0 AND to_detail > 0 AS to_the_day,
           CASE WHEN from_detail > 0 AND to_detail > 0
                THEN (EXTRACT(EPOCH FROM to_at) - EXTRACT(EPOCH FROM from_at)) / 86400.0
           END AS days,
           CASE WHEN from_detail = 2 AND to_detail = 2 THEN threshold_hours
                ELSE COALESCE(date_only_hours, threshold_hours) END / 24.0 AS threshold_days
    FROM pairs
)
SELECT *, days > threshold_days AS over_threshold
FROM measured
