-- delay_coded_vs_measured: delays as coded by analysts against delays measured from
-- the events (the shared view episode_intervals, as in delay_intervals).
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
-- Shared views: episode_intervals, case_themes (queries/shared/).
-- Parameters: the scope; the thresholds in force.
WITH measurable AS (
    SELECT DISTINCT case_id FROM episode_intervals WHERE days >= 0
),
delayed AS (
    SELECT DISTINCT case_id FROM episode_intervals WHERE days >= 0 AND over_threshold
),
coded AS (
    SELECT case_id FROM case_themes WHERE theme = 'delay'
),
unreported AS (
    SELECT case_id, episode
    FROM events
    GROUP BY case_id, episode
    HAVING SUM(CASE WHEN CAST(event AS VARCHAR) = 'performed' THEN 1 ELSE 0 END) > 0
       AND SUM(CASE WHEN CAST(event AS VARCHAR) = 'reported' THEN 1 ELSE 0 END) = 0
)
SELECT measure, cases
FROM (
SELECT 1 AS position, 'cases_in_scope' AS measure, (SELECT COUNT(*) FROM cases) AS cases
UNION ALL
SELECT 2 AS position, 'cases_with_measured_delay', (SELECT COUNT(*) FROM delayed)
UNION ALL
SELECT 3 AS position, 'cases_coded_delay', (SELECT COUNT(*) FROM coded)
UNION ALL
SELECT 4 AS position, 'measured_not_coded', (SELECT COUNT(*) FROM delayed d WHERE d.case_id NOT IN (SELECT case_id FROM coded))
UNION ALL
SELECT 5 AS position, 'coded_not_measurable', (SELECT COUNT(*) FROM coded c WHERE c.case_id NOT IN (SELECT case_id FROM measurable))
UNION ALL
SELECT 6 AS position, 'episodes_performed_not_reported', (SELECT COUNT(*) FROM unreported)
) numbered
ORDER BY position
