-- delay_coded_vs_measured: delays as coded by analysts against delays measured from
-- the events (the shared view episode_intervals, as in delay_intervals).
--
-- Rows (measure, cases):
--   cases_in_scope              every case in scope (the denominator of each row)
--   cases_with_measured_delay   cases with at least one interval over its threshold
--   cases_coded_delay           cases with a finding of the study's delay theme
--   measured_not_coded          measured delay, no delay finding
--   coded_not_measurable        delay finding, but no event interval to measure
--   episodes_performed_not_reported
--                               episodes (not cases) with a "performed" step and no
--                               "reported" step
-- Shared views: episode_intervals, episodes, case_themes (queries/shared/).
-- Parameters: the scope; the thresholds in force; the study's delay theme
-- (study.delay_theme). A study with no delay theme gives no rows: the comparison is
-- absent, not zero.
WITH per_case AS (
    -- One pass over the intervals: every case with a measurable interval (days >= 0),
    -- and whether any of them is over its threshold. The condition is inside the
    -- aggregates, not a WHERE: DataFusion would test a WHERE on `days` inside
    -- episode_intervals' join, computing every interval twice (1.5 s at a million cases).
    SELECT case_key,
           MAX(CASE WHEN days >= 0 AND over_threshold THEN 1 ELSE 0 END) AS delayed
    FROM episode_intervals
    GROUP BY case_key
    HAVING MAX(CASE WHEN days >= 0 THEN 1 ELSE 0 END) = 1
),
coded AS (
    SELECT case_key FROM case_themes WHERE theme = (SELECT delay_theme FROM study)
),
both_sides AS (
    SELECT p.case_key IS NOT NULL AS measurable,
           COALESCE(p.delayed, 0) = 1 AS delayed,
           c.case_key IS NOT NULL AS coded
    FROM per_case p
    FULL OUTER JOIN coded c ON c.case_key = p.case_key
),
unreported AS (
    SELECT case_key, episode
    FROM episodes
    WHERE performed_at IS NOT NULL AND reported_at IS NULL
),
totals AS (
    SELECT (SELECT COUNT(*) FROM cases) AS cases_in_scope,
           SUM(CASE WHEN delayed THEN 1 ELSE 0 END) AS delayed,
           SUM(CASE WHEN coded THEN 1 ELSE 0 END) AS coded,
           SUM(CASE WHEN delayed AND NOT coded THEN 1 ELSE 0 END) AS measured_not_coded,
           SUM(CASE WHEN coded AND NOT measurable THEN 1 ELSE 0 END) AS coded_not_measurable,
           (SELECT COUNT(*) FROM unreported) AS unreported
    FROM both_sides
)
-- One row per figure, from the single row of totals (a CTE named several times would
-- be computed several times).
SELECT m.measure,
       CAST(CASE m.position
                WHEN 1 THEN t.cases_in_scope
                WHEN 2 THEN t.delayed
                WHEN 3 THEN t.coded
                WHEN 4 THEN t.measured_not_coded
                WHEN 5 THEN t.coded_not_measurable
                WHEN 6 THEN t.unreported
            END AS BIGINT) AS cases
FROM totals t
CROSS JOIN (VALUES (1, 'cases_in_scope'),
                   (2, 'cases_with_measured_delay'),
                   (3, 'cases_coded_delay'),
                   (4, 'measured_not_coded'),
                   (5, 'coded_not_measurable'),
                   (6, 'episodes_performed_not_reported')) AS m(position, measure)
CROSS JOIN study s
WHERE s.delay_theme IS NOT NULL
ORDER BY m.position
