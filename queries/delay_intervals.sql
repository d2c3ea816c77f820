-- delay_intervals: measured delays between steps of the imaging journey.
--
-- For every interval of the threshold table (`thresholds`: requested -> performed,
-- performed -> reported, ...), per episode of a case: the time from the first `from`
-- step to the first `to` step. An episode's urgency is the most urgent one recorded on
-- any of its events ("missing" when none is); the threshold is the one for that
-- urgency (or "any"). Date-only steps (no time of day on either) are measured from
-- midnight to midnight and use the interval's date-only threshold where it has one
-- (the one-hour critical alert: same day).
-- A measured delay is an interval strictly longer than its threshold.
-- Intervals where the `to` step comes before the `from` step are counted in
-- `out_of_order` and left out of every other column.
-- Per interval and urgency:
--   episodes:        episodes with both steps in order (the denominator)
--   median_days, p90_days, max_days: of those intervals, in days
--   over_threshold:  episodes over the threshold (the numerator); share_over = over / episodes
-- Parameters: the scope; the thresholds in force.
-- Portability: percentile_cont(...) WITHIN GROUP is standard SQL (DataFusion, DuckDB);
-- EXTRACT(EPOCH FROM ts) is DataFusion's and DuckDB's (Spark: unix_timestamp(ts)).
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
SELECT interval_no,
       from_event,
       to_event,
       urgency,
       MAX(threshold_days) AS threshold_days,
       SUM(CASE WHEN days >= 0 THEN 1 ELSE 0 END) AS episodes,
       median(CASE WHEN days >= 0 THEN days END) AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN days >= 0 THEN days END) AS p90_days,
       MAX(CASE WHEN days >= 0 THEN days END) AS max_days,
       SUM(CASE WHEN days >= 0 AND days > threshold_days THEN 1 ELSE 0 END) AS over_threshold,
       CAST(SUM(CASE WHEN days >= 0 AND days > threshold_days THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN days >= 0 THEN 1 ELSE 0 END), 0) AS share_over,
       SUM(CASE WHEN days < 0 THEN 1 ELSE 0 END) AS out_of_order
FROM measured
GROUP BY interval_no, from_event, to_event, urgency
ORDER BY interval_no, urgency
