-- coded_vs_measured: delay_coded_vs_measured's counts per leaf of the grid (its
-- cases_in_scope is the cube's cases), one column per measure. None when the study has
-- no delay theme.
-- The conditions are inside the aggregates, as in delay_coded_vs_measured.sql: a WHERE
-- on the full join's flags (coded AND NOT measurable) gives no rows in DataFusion 55.
-- Shared views: case_cells, case_themes, episode_intervals, episodes.
WITH per_case AS (
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
    SELECT COALESCE(p.case_key, c.case_key) AS case_key,
           p.case_key IS NOT NULL AS measurable,
           COALESCE(p.delayed, 0) = 1 AS delayed,
           c.case_key IS NOT NULL AS coded
    FROM per_case p
    FULL OUTER JOIN coded c ON c.case_key = p.case_key
),
per_leaf AS (
    SELECT l.leaf_month, l.leaf_year,
           SUM(CASE WHEN b.delayed THEN 1 ELSE 0 END) AS cases_with_measured_delay,
           SUM(CASE WHEN b.coded THEN 1 ELSE 0 END) AS cases_coded_delay,
           SUM(CASE WHEN b.delayed AND NOT b.coded THEN 1 ELSE 0 END) AS measured_not_coded,
           SUM(CASE WHEN b.coded AND NOT b.measurable THEN 1 ELSE 0 END) AS coded_not_measurable,
           0 AS episodes_performed_not_reported
    FROM both_sides b
    JOIN case_cells l ON l.case_key = b.case_key
    GROUP BY l.leaf_month, l.leaf_year
    UNION ALL
    SELECT l.leaf_month, l.leaf_year, 0, 0, 0, 0,
           SUM(CASE WHEN e.performed_at IS NOT NULL AND e.reported_at IS NULL THEN 1 ELSE 0 END)
    FROM episodes e
    JOIN case_cells l ON l.case_key = e.case_key
    GROUP BY l.leaf_month, l.leaf_year
)
SELECT p.*
FROM per_leaf p
CROSS JOIN study s
WHERE s.delay_theme IS NOT NULL
