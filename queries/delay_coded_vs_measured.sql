-- delay_coded_vs_measured: delays as coded by analysts against delays measured from
-- the events (the same rules as delay_intervals).
--
-- Rows (measure, cases):
--   cases_in_scope              every case in scope (the denominator of each row)
--   cases_with_measured_delay   cases with at least one interval over its threshold
--   cases_coded_delay           cases with a finding of theme "delay" (DL codes)
--   measured_not_coded          measured delay, no delay finding
--   coded_not_measurable        delay finding, but no event interval to measure
--   episodes_performed_not_reported
--                               episodes (not cases) with a "performed" step and no
--                               "reported" step
-- Parameters: the scope; the thresholds in force.
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
),
measurable AS (
    SELECT DISTINCT case_id FROM measured WHERE days >= 0
),
delayed AS (
    SELECT DISTINCT case_id FROM measured WHERE days >= 0 AND days > threshold_days
),
coded AS (
    SELECT DISTINCT f.case_id
    FROM findings f
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
    WHERE c.theme = 'delay'
),
unreported AS (
    SELECT case_id, episode
    FROM steps
    GROUP BY case_id, episode
    HAVING SUM(CASE WHEN event = 'performed' THEN 1 ELSE 0 END) > 0
       AND SUM(CASE WHEN event = 'reported' THEN 1 ELSE 0 END) = 0
)
SELECT 'cases_in_scope' AS measure, (SELECT COUNT(*) FROM cases) AS cases
UNION ALL
SELECT 'cases_with_measured_delay', (SELECT COUNT(*) FROM delayed)
UNION ALL
SELECT 'cases_coded_delay', (SELECT COUNT(*) FROM coded)
UNION ALL
SELECT 'measured_not_coded', (SELECT COUNT(*) FROM delayed d WHERE d.case_id NOT IN (SELECT case_id FROM coded))
UNION ALL
SELECT 'coded_not_measurable', (SELECT COUNT(*) FROM coded c WHERE c.case_id NOT IN (SELECT case_id FROM measurable))
UNION ALL
SELECT 'episodes_performed_not_reported', (SELECT COUNT(*) FROM unreported)
