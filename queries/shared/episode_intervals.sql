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
WITH episode_urgency AS (
    SELECT case_id,
           episode,
           CASE MIN(CASE CAST(urgency AS VARCHAR)
                        WHEN 'critical' THEN 1 WHEN 'urgent' THEN 2
                        WHEN 'significant' THEN 3 WHEN 'routine' THEN 4 END)
                WHEN 1 THEN 'critical' WHEN 2 THEN 'urgent'
                WHEN 3 THEN 'significant' WHEN 4 THEN 'routine'
                ELSE 'missing' END AS urgency
    FROM events
    GROUP BY case_id, episode
),
steps AS (
    SELECT case_id,
           episode,
           CAST(event AS VARCHAR) AS event,
           MIN(occurred_at) AS occurred_at,
           bool_and(occurred_at_has_time) AS has_time
    FROM events
    GROUP BY case_id, episode, CAST(event AS VARCHAR)
),
measured AS (
    SELECT a.case_id,
           a.episode,
           u.urgency,
           th.interval_no,
           th.from_event,
           th.to_event,
           (EXTRACT(EPOCH FROM b.occurred_at) - EXTRACT(EPOCH FROM a.occurred_at)) / 86400.0 AS days,
           CASE WHEN a.has_time AND b.has_time THEN th.threshold_hours
                ELSE COALESCE(th.date_only_hours, th.threshold_hours) END / 24.0 AS threshold_days
    FROM steps a
    JOIN steps b ON b.case_id = a.case_id AND b.episode = a.episode
    JOIN episode_urgency u ON u.case_id = a.case_id AND u.episode = a.episode
    JOIN thresholds th
      ON th.from_event = a.event
     AND th.to_event = b.event
     AND (th.urgency = 'any' OR th.urgency = u.urgency)
)
SELECT *, days > threshold_days AS over_threshold
FROM measured
