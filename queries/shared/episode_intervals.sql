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
-- Columns: case_key, episode, urgency, interval_no, from_event, to_event, to_the_day,
--          days, threshold_days, over_threshold (days > threshold_days).
-- Portability: EXTRACT(EPOCH FROM ts) is DataFusion's and DuckDB's (Spark:
-- unix_timestamp(ts)); BIT_OR and the operators <<, & and | are DataFusion's and
-- DuckDB's (Spark: bit_or, shiftleft).
-- The enumerations (event, urgency) are compared as they are stored, dictionary-encoded:
-- DataFusion compares a dictionary's few values once and maps its codes, where a CAST to
-- text would copy every row's string.
-- How it is computed (the shape matters: this view is the measures' largest piece of
-- work, and the aggregation below is the part that spills): the steps are numbered 0 to
-- 9, and everything about an episode other than its steps' first times is kept as bits
-- of one integer, `flags`, gathered by one BIT_OR: bit 24 + s when the episode has step s,
-- bit 2s when a record of step s is known only to the month or the year (detail 0), bit
-- 2s + 1 when one has a day but no time of day (detail 1), and bit 19 + r for each
-- urgency recorded (r = 1 critical ... 4 routine). One aggregate in place of eleven (the
-- details and the urgency) makes the grouped state half as large, and lets each episode
-- meet its threshold rows by comparing integers: an equi-join on the urgency's rank, and
-- the test that both steps happened as (flags & needed) = needed.
-- The step numbers below (the CASE lists and the VALUES list) name every event kind of
-- the spec (bundle-v1): a new one needs a line in each, with the next number.
WITH steps AS (
    -- Each event's step number, how much of its time the input gave (2 a time of day,
    -- 1 a day only, 0 only a month or a year: occurred_at_precision; a warehouse written
    -- before that column existed holds days only) and its urgency's rank.
    SELECT case_key,
           episode,
           occurred_at,
           CASE event
                WHEN 'requested' THEN 0
                WHEN 'performed' THEN 1
                WHEN 'reviewed' THEN 2
                WHEN 'reported' THEN 3
                WHEN 'alert_raised' THEN 4
                WHEN 'alert_acknowledged' THEN 5
                WHEN 'acted_on' THEN 6
                WHEN 'patient_informed' THEN 7
                WHEN 'diagnosed' THEN 8
                WHEN 'learning_review' THEN 9
           END AS step,
           CASE WHEN occurred_at_precision <> 'day' THEN 0
                WHEN occurred_at_has_time THEN 2
                ELSE 1 END AS detail,
           CASE urgency
                WHEN 'critical' THEN 1 WHEN 'urgent' THEN 2
                WHEN 'significant' THEN 3 WHEN 'routine' THEN 4 END AS urgency_rank
    FROM events
),
episodes AS (
    -- One row per episode: the first time of each step, and the flags. One grouped pass
    -- over the events (which spills to disk under the memory limit), instead of joining
    -- the events to themselves. A step's detail is its least detailed record's: the
    -- lowest detail bit set.
    SELECT case_key,
           episode,
           MIN(CASE WHEN step = 0 THEN occurred_at END) AS requested_at,
           MIN(CASE WHEN step = 1 THEN occurred_at END) AS performed_at,
           MIN(CASE WHEN step = 2 THEN occurred_at END) AS reviewed_at,
           MIN(CASE WHEN step = 3 THEN occurred_at END) AS reported_at,
           MIN(CASE WHEN step = 4 THEN occurred_at END) AS alert_raised_at,
           MIN(CASE WHEN step = 5 THEN occurred_at END) AS alert_acknowledged_at,
           MIN(CASE WHEN step = 6 THEN occurred_at END) AS acted_on_at,
           MIN(CASE WHEN step = 7 THEN occurred_at END) AS patient_informed_at,
           MIN(CASE WHEN step = 8 THEN occurred_at END) AS diagnosed_at,
           MIN(CASE WHEN step = 9 THEN occurred_at END) AS learning_review_at,
           BIT_OR(COALESCE(CAST(16777216 AS BIGINT) << step, 0)
                  | COALESCE(CASE detail
                                  WHEN 0 THEN CAST(1 AS BIGINT) << (2 * step)
                                  WHEN 1 THEN CAST(2 AS BIGINT) << (2 * step)
                                  ELSE 0 END, 0)
                  | COALESCE(CAST(524288 AS BIGINT) << urgency_rank, 0)) AS flags
    FROM steps
    GROUP BY case_key, episode
),
ranked AS (
    -- An episode's urgency is the most urgent one recorded on any of its events (rank 5,
    -- "missing", when none is).
    SELECT *,
           CASE WHEN (flags & 1048576) <> 0 THEN 1
                WHEN (flags & 2097152) <> 0 THEN 2
                WHEN (flags & 4194304) <> 0 THEN 3
                WHEN (flags & 8388608) <> 0 THEN 4
                ELSE 5 END AS urgency_rank
    FROM episodes
),
step_numbers AS (
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
    -- the interval (both steps).
    SELECT u.urgency_rank,
           u.urgency,
           th.interval_no,
           th.from_event,
           th.to_event,
           th.threshold_hours,
           th.date_only_hours,
           f.step AS from_step,
           t.step AS to_step,
           (CAST(16777216 AS BIGINT) << f.step) | (CAST(16777216 AS BIGINT) << t.step) AS needed
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
    -- has; the small table is on the left, so it is the one held in memory.
    SELECT e.case_key,
           e.episode,
           th.urgency,
           th.interval_no,
           th.from_event,
           th.to_event,
           th.threshold_hours,
           th.date_only_hours,
           CASE th.from_step
                WHEN 0 THEN e.requested_at
                WHEN 1 THEN e.performed_at
                WHEN 2 THEN e.reviewed_at
                WHEN 3 THEN e.reported_at
                WHEN 4 THEN e.alert_raised_at
                WHEN 5 THEN e.alert_acknowledged_at
                WHEN 6 THEN e.acted_on_at
                WHEN 7 THEN e.patient_informed_at
                WHEN 8 THEN e.diagnosed_at
                WHEN 9 THEN e.learning_review_at
           END AS from_at,
           CASE th.to_step
                WHEN 0 THEN e.requested_at
                WHEN 1 THEN e.performed_at
                WHEN 2 THEN e.reviewed_at
                WHEN 3 THEN e.reported_at
                WHEN 4 THEN e.alert_raised_at
                WHEN 5 THEN e.alert_acknowledged_at
                WHEN 6 THEN e.acted_on_at
                WHEN 7 THEN e.patient_informed_at
                WHEN 8 THEN e.diagnosed_at
                WHEN 9 THEN e.learning_review_at
           END AS to_at,
           CASE WHEN (e.flags & (CAST(1 AS BIGINT) << (2 * th.from_step))) <> 0 THEN 0
                WHEN (e.flags & (CAST(2 AS BIGINT) << (2 * th.from_step))) <> 0 THEN 1
                ELSE 2 END AS from_detail,
           CASE WHEN (e.flags & (CAST(1 AS BIGINT) << (2 * th.to_step))) <> 0 THEN 0
                WHEN (e.flags & (CAST(2 AS BIGINT) << (2 * th.to_step))) <> 0 THEN 1
                ELSE 2 END AS to_detail
    FROM rules th
    JOIN ranked e
      ON e.urgency_rank = th.urgency_rank AND (e.flags & th.needed) = th.needed
),
measured AS (
    SELECT case_key,
           episode,
           urgency,
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
