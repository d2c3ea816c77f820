-- episode_intervals (shared view): every measurable interval of the threshold table,
-- per episode of a case.
--
-- For each interval of `thresholds` (requested -> performed, performed -> reported,
-- ...) and each episode holding both steps: the time from the first `from` step to the
-- first `to` step, in days. An episode's urgency is the most urgent one recorded on
-- any of its events ("missing" when none is); the threshold is the one for that urgency
-- (or "any"). When either step has no time of day the interval is measured midnight to
-- midnight and the interval's date-only threshold applies where it has one (the
-- one-hour critical alert: same day). `days` is negative when the `to` step comes
-- first (out of order).
-- Columns: case_id, episode, urgency, interval_no, from_event, to_event, days,
--          threshold_days, over_threshold (days > threshold_days).
-- Portability: EXTRACT(EPOCH FROM ts) is DataFusion's and DuckDB's (Spark:
-- unix_timestamp(ts)); bool_and is DataFusion's, DuckDB's and Spark's.
-- The CASE lists below name every event kind of the spec (bundle-v1): a new kind needs a
-- line in each.
WITH episodes AS (
    -- One row per episode: its urgency, and for each kind of step the first time it
    -- happened and whether every record of it had a time of day. One grouped pass
    -- over the events (which spills to disk under the memory limit), instead of
    -- joining the events to themselves.
    SELECT case_id,
           episode,
           CASE MIN(CASE CAST(urgency AS VARCHAR)
                        WHEN 'critical' THEN 1 WHEN 'urgent' THEN 2
                        WHEN 'significant' THEN 3 WHEN 'routine' THEN 4 END)
                WHEN 1 THEN 'critical' WHEN 2 THEN 'urgent'
                WHEN 3 THEN 'significant' WHEN 4 THEN 'routine'
                ELSE 'missing' END AS urgency,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'requested' THEN occurred_at END) AS requested_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'requested' THEN occurred_at_has_time END) AS requested_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'performed' THEN occurred_at END) AS performed_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'performed' THEN occurred_at_has_time END) AS performed_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'reviewed' THEN occurred_at END) AS reviewed_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'reviewed' THEN occurred_at_has_time END) AS reviewed_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'reported' THEN occurred_at END) AS reported_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'reported' THEN occurred_at_has_time END) AS reported_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'alert_raised' THEN occurred_at END) AS alert_raised_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'alert_raised' THEN occurred_at_has_time END) AS alert_raised_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'alert_acknowledged' THEN occurred_at END) AS alert_acknowledged_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'alert_acknowledged' THEN occurred_at_has_time END) AS alert_acknowledged_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'acted_on' THEN occurred_at END) AS acted_on_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'acted_on' THEN occurred_at_has_time END) AS acted_on_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'patient_informed' THEN occurred_at END) AS patient_informed_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'patient_informed' THEN occurred_at_has_time END) AS patient_informed_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'diagnosed' THEN occurred_at END) AS diagnosed_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'diagnosed' THEN occurred_at_has_time END) AS diagnosed_has_time,
           MIN(CASE WHEN CAST(event AS VARCHAR) = 'learning_review' THEN occurred_at END) AS learning_review_at,
           bool_and(CASE WHEN CAST(event AS VARCHAR) = 'learning_review' THEN occurred_at_has_time END) AS learning_review_has_time
    FROM events
    GROUP BY case_id, episode
),
pairs AS (
    -- Each episode meets the (few) threshold rows for its urgency; the small table is
    -- on the left, so it is the one held in memory.
    SELECT e.case_id,
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
                WHEN 'requested' THEN e.requested_has_time
                WHEN 'performed' THEN e.performed_has_time
                WHEN 'reviewed' THEN e.reviewed_has_time
                WHEN 'reported' THEN e.reported_has_time
                WHEN 'alert_raised' THEN e.alert_raised_has_time
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_has_time
                WHEN 'acted_on' THEN e.acted_on_has_time
                WHEN 'patient_informed' THEN e.patient_informed_has_time
                WHEN 'diagnosed' THEN e.diagnosed_has_time
                WHEN 'learning_review' THEN e.learning_review_has_time
           END AS from_has_time,
           CASE th.to_event
                WHEN 'requested' THEN e.requested_has_time
                WHEN 'performed' THEN e.performed_has_time
                WHEN 'reviewed' THEN e.reviewed_has_time
                WHEN 'reported' THEN e.reported_has_time
                WHEN 'alert_raised' THEN e.alert_raised_has_time
                WHEN 'alert_acknowledged' THEN e.alert_acknowledged_has_time
                WHEN 'acted_on' THEN e.acted_on_has_time
                WHEN 'patient_informed' THEN e.patient_informed_has_time
                WHEN 'diagnosed' THEN e.diagnosed_has_time
                WHEN 'learning_review' THEN e.learning_review_has_time
           END AS to_has_time
    FROM thresholds th
    CROSS JOIN episodes e
    WHERE th.urgency = 'any' OR th.urgency = e.urgency
),
measured AS (
    SELECT case_id,
           episode,
           urgency,
           interval_no,
           from_event,
           to_event,
           (EXTRACT(EPOCH FROM to_at) - EXTRACT(EPOCH FROM from_at)) / 86400.0 AS days,
           CASE WHEN from_has_time AND to_has_time THEN threshold_hours
                ELSE COALESCE(date_only_hours, threshold_hours) END / 24.0 AS threshold_days
    FROM pairs
    WHERE from_at IS NOT NULL AND to_at IS NOT NULL
)
SELECT *, days > threshold_days AS over_threshold
FROM measured
