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
-- unix_timestamp(ts)); bool_and is DataFusion's, DuckDB's and Spark's.
-- The enumerations (event, urgency) are compared as they are stored, dictionary-encoded:
-- DataFusion compares a dictionary's few values once and maps its codes, where a CAST to
-- text would copy every row's string (twenty times here).
-- The CASE lists below name every event kind and urgency of the spec (bundle-v1): a new one needs a
-- line in each.
WITH episodes AS (
    -- One row per episode: its urgency, and for each kind of step the first time it
    -- happened and whether every record of it had a time of day. One grouped pass
    -- over the events (which spills to disk under the memory limit), instead of
    -- joining the events to themselves.
    SELECT case_key,
           episode,
           CASE MIN(CASE urgency
                        WHEN 'critical' THEN 1 WHEN 'urgent' THEN 2
                        WHEN 'significant' THEN 3 WHEN 'routine' THEN 4 END)
                WHEN 1 THEN 'critical' WHEN 2 THEN 'urgent'
                WHEN 3 THEN 'significant' WHEN 4 THEN 'routine'
                ELSE 'missing' END AS urgency,
           MIN(CASE WHEN event = 'requested' THEN occurred_at END) AS requested_at,
           MIN(CASE WHEN event = 'requested' THEN detail END) AS requested_detail,
           MIN(CASE WHEN event = 'performed' THEN occurred_at END) AS performed_at,
           MIN(CASE WHEN event = 'performed' THEN detail END) AS performed_detail,
           MIN(CASE WHEN event = 'reviewed' THEN occurred_at END) AS reviewed_at,
           MIN(CASE WHEN event = 'reviewed' THEN detail END) AS reviewed_detail,
           MIN(CASE WHEN event = 'reported' THEN occurred_at END) AS reported_at,
           MIN(CASE WHEN event = 'reported' THEN detail END) AS reported_detail,
           MIN(CASE WHEN event = 'alert_raised' THEN occurred_at END) AS alert_raised_at,
           MIN(CASE WHEN event = 'alert_raised' THEN detail END) AS alert_raised_detail,
           MIN(CASE WHEN event = 'alert_acknowledged' THEN occurred_at END) AS alert_acknowledged_at,
           MIN(CASE WHEN event = 'alert_acknowledged' THEN detail END) AS alert_acknowledged_detail,
           MIN(CASE WHEN event = 'acted_on' THEN occurred_at END) AS acted_on_at,
           MIN(CASE WHEN event = 'acted_on' THEN detail END) AS acted_on_detail,
           MIN(CASE WHEN event = 'patient_informed' THEN occurred_at END) AS patient_informed_at,
           MIN(CASE WHEN event = 'patient_informed' THEN detail END) AS patient_informed_detail,
           MIN(CASE WHEN event = 'diagnosed' THEN occurred_at END) AS diagnosed_at,
           MIN(CASE WHEN event = 'diagnosed' THEN detail END) AS diagnosed_detail,
           MIN(CASE WHEN event = 'learning_review' THEN occurred_at END) AS learning_review_at,
           MIN(CASE WHEN event = 'learning_review' THEN detail END) AS learning_review_detail
    FROM (
        -- How much of each step's time the input gave: 2 a time of day, 1 a day only,
        -- 0 only a month or a year (occurred_at_precision; a warehouse written before
        -- that column existed holds days only). A step's detail is its least detailed
        -- record's.
        SELECT *,
               CASE WHEN occurred_at_precision <> 'day' THEN 0
                    WHEN occurred_at_has_time THEN 2
                    ELSE 1 END AS detail
        FROM events
    ) ev
    GROUP BY case_key, episode
),
rules AS (
    -- Each threshold row once per urgency it applies to ("any": every urgency of the
    -- spec, and "missing"), so that episodes meet their rows by an equi-join on the
    -- urgency (a hash join) instead of testing every episode against every row.
    SELECT u.urgency AS applies_to, th.*
    FROM thresholds th
    JOIN (SELECT 'critical' AS urgency UNION ALL SELECT 'urgent' UNION ALL
          SELECT 'significant' UNION ALL SELECT 'routine' UNION ALL SELECT 'missing') u
      ON th.urgency = 'any' OR th.urgency = u.urgency
),
pairs AS (
    -- Each episode meets the (few) threshold rows for its urgency; the small table is
    -- on the left, so it is the one held in memory.
    SELECT e.case_key,
           e.episode,
           e.urgency,
           th.interval_no,
           th.from_event,
           th.to_event,
           th.threshold_hours,
           th.date_only_hours,
           CASE th.from_event
                WHEN 'requested' THEN e.requested_at
                WHEN 'performed' THEN e.performed_at
                WHEN 'reviewed' THEN e.reviewed_at
                WHEN 'reported' THEN e.reported_at
                WHEN 'alert_raised' THEN e.alert_raised_at
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_at
                WHEN 'acted_on' THEN e.acted_on_at
                WHEN 'patient_informed' THEN e.patient_informed_at
                WHEN 'diagnosed' THEN e.diagnosed_at
                WHEN 'learning_review' THEN e.learning_review_at
           END AS from_at,
           CASE th.to_event
                WHEN 'requested' THEN e.requested_at
                WHEN 'performed' THEN e.performed_at
                WHEN 'reviewed' THEN e.reviewed_at
                WHEN 'reported' THEN e.reported_at
                WHEN 'alert_raised' THEN e.alert_raised_at
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_at
                WHEN 'acted_on' THEN e.acted_on_at
                WHEN 'patient_informed' THEN e.patient_informed_at
                WHEN 'diagnosed' THEN e.diagnosed_at
                WHEN 'learning_review' THEN e.learning_review_at
           END AS to_at,
           CASE th.from_event
                WHEN 'requested' THEN e.requested_detail
                WHEN 'performed' THEN e.performed_detail
                WHEN 'reviewed' THEN e.reviewed_detail
                WHEN 'reported' THEN e.reported_detail
                WHEN 'alert_raised' THEN e.alert_raised_detail
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_detail
                WHEN 'acted_on' THEN e.acted_on_detail
                WHEN 'patient_informed' THEN e.patient_informed_detail
                WHEN 'diagnosed' THEN e.diagnosed_detail
                WHEN 'learning_review' THEN e.learning_review_detail
           END AS from_detail,
           CASE th.to_event
                WHEN 'requested' THEN e.requested_detail
                WHEN 'performed' THEN e.performed_detail
                WHEN 'reviewed' THEN e.reviewed_detail
                WHEN 'reported' THEN e.reported_detail
                WHEN 'alert_raised' THEN e.alert_raised_detail
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_detail
                WHEN 'acted_on' THEN e.acted_on_detail
                WHEN 'patient_informed' THEN e.patient_informed_detail
                WHEN 'diagnosed' THEN e.diagnosed_detail
                WHEN 'learning_review' THEN e.learning_review_detail
           END AS to_detail
    FROM rules th
    JOIN episodes e ON e.urgency = th.applies_to
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
    WHERE from_at IS NOT NULL AND to_at IS NOT NULL
)
SELECT *, days > threshold_days AS over_threshold
FROM measured
