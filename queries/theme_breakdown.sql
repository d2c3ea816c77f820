-- theme_breakdown: each theme's cases broken down by one dimension at a time.
--
-- Case dimensions (closing_year, organisation_type, region, modality, harm, source):
--   Numerator:   cases with the value that have the theme.
--   Denominator: cases with the value.
-- Finding dimensions (service, stage): a finding is placed by its own stage and by its
--   service when given, else the case's service.
--   Numerator:   cases with a finding of the theme placed at the value.
--   Denominator: cases with any finding placed at the value.
-- A missing value is shown as "(missing)".
-- Shared views: themes, case_themes, case_theme_bits (queries/shared/).
-- Parameters: the scope.
-- How: dimensions are numbered until the end, and a case's themes (at a value) are the
-- bits of one integer, bit n - 1 for theme_order n (case_theme_bits). Each case, and
-- each case and finding value, is one row of the grouped passes; those rows are then
-- counted by (dimension, value, set of themes), a few rows per value, and only those
-- are crossed with the themes. (Counting the (case, theme) pairs row by row grouped
-- millions of rows twice, once for the cases at a value and once per theme: 2.0 s
-- against 0.9 s at a million cases.) Themes past the 62nd are counted pair by pair
-- (wide_themes), a pass that reads nothing when the code list has 62 themes or fewer.
-- A case's themes at each stage are grouped on the case and the stage's number (in the
-- bundle's order, 0 for none), integers, and the stage named after: grouping 1.3 million
-- (case, stage text) pairs took a third of the measure's time (docs/benchmarks.md). The
-- CASE lists every stage of the spec (bundle-v1), as the VALUES list beside it does.
WITH case_dims AS (
    SELECT case_key, 1 AS dim, CAST(EXTRACT(YEAR FROM closed_date) AS VARCHAR) AS value FROM cases
    UNION ALL
    SELECT case_key, 2, CAST(organisation_type AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 3, region FROM cases
    UNION ALL
    SELECT case_key, 4, CAST(modality AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 5, CAST(harm AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 6, CAST(source AS VARCHAR) FROM cases
),
finding_dims AS (
    SELECT f.case_key, 7 AS dim, COALESCE(f.service, k.service, '(missing)') AS value,
           c.theme_order
    FROM findings f
    JOIN cases k ON k.case_key = f.case_key
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
    UNION ALL
    SELECT f.case_key, 8, COALESCE(CAST(f.stage AS VARCHAR), '(missing)'), c.theme_order
    FROM findings f
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
),
case_value_bits AS (
    -- Every case at each case dimension's value (no themes: 0).
    SELECT d.dim, COALESCE(d.value, '(missing)') AS value,
           COALESCE(b.themes, CAST(0 AS BIGINT)) AS themes, COUNT(*) AS cases
    FROM case_dims d
    LEFT JOIN case_theme_bits b ON b.case_key = d.case_key
    GROUP BY d.dim, COALESCE(d.value, '(missing)'), COALESCE(b.themes, CAST(0 AS BIGINT))
),
finding_value_bits AS (
    -- Each case at each finding value it has: the themes of its findings placed there.
    -- The stages grouped by their number with the case, named after; the services by
    -- their text.
    SELECT dim, value, themes, COUNT(*) AS cases
    FROM (
        SELECT 7 AS dim, value,
               BIT_OR(CASE WHEN theme_order <= 62 THEN CAST(1 AS BIGINT) << (theme_order - 1)
                           ELSE CAST(0 AS BIGINT) END) AS themes
        FROM finding_dims
        WHERE dim = 7
        GROUP BY case_key, value
    ) per_service
    GROUP BY dim, value, themes
    UNION ALL
    SELECT 8 AS dim, COALESCE(s.stage, '(missing)') AS value, p.themes, COUNT(*) AS cases
    FROM (
        SELECT f.case_key,
               CASE CAST(f.stage AS VARCHAR)
                   WHEN 'request' THEN 1 WHEN 'acquisition' THEN 2 WHEN 'review' THEN 3
                   WHEN 'reporting' THEN 4 WHEN 'communication' THEN 5 WHEN 'action' THEN 6
                   WHEN 'learning' THEN 7 ELSE 0 END AS stage_no,
               BIT_OR(CASE WHEN c.theme_order <= 62 THEN CAST(1 AS BIGINT) << (c.theme_order - 1)
                           ELSE CAST(0 AS BIGINT) END) AS themes
        FROM findings f
        JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
        GROUP BY f.case_key,
                 CASE CAST(f.stage AS VARCHAR)
                   WHEN 'request' THEN 1 WHEN 'acquisition' THEN 2 WHEN 'review' THEN 3
                   WHEN 'reporting' THEN 4 WHEN 'communication' THEN 5 WHEN 'action' THEN 6
                   WHEN 'learning' THEN 7 ELSE 0 END
    ) p
    LEFT JOIN (VALUES (1, 'request'), (2, 'acquisition'), (3, 'review'), (4, 'reporting'),
                      (5, 'communication'), (6, 'action'), (7, 'learning')) AS s(n, stage)
      ON s.n = p.stage_no
    GROUP BY COALESCE(s.stage, '(missing)'), p.themes
),
value_bits AS (
    SELECT * FROM case_value_bits
    UNION ALL
    SELECT * FROM finding_value_bits
),
grid AS (
    SELECT v.dim, v.value, t.theme, t.theme_order,
           SUM(v.cases) AS cases,
           SUM(CASE WHEN t.theme_order <= 62
                     AND (v.themes & (CAST(1 AS BIGINT) << (t.theme_order - 1))) <> 0
                    THEN v.cases ELSE 0 END) AS cases_with_theme
    FROM value_bits v
    CROSS JOIN themes t
    GROUP BY v.dim, v.value, t.theme, t.theme_order
),
wide_themes AS (
    -- Themes past the 62nd: cases per value and theme, counted pair by pair.
    SELECT d.dim, COALESCE(d.value, '(missing)') AS value, ct.theme_order,
           COUNT(*) AS cases_with_theme
    FROM case_dims d
    JOIN case_themes ct ON ct.case_key = d.case_key
    WHERE ct.theme_order > 62
    GROUP BY d.dim, COALESCE(d.value, '(missing)'), ct.theme_order
    UNION ALL
    SELECT dim, value, theme_order, COUNT(DISTINCT case_key)
    FROM finding_dims
    WHERE theme_order > 62
    GROUP BY dim, value, theme_order
),
all_levels AS (
    SELECT g.dim, g.value, g.theme, g.theme_order, g.cases,
           g.cases_with_theme + COALESCE(w.cases_with_theme, 0) AS cases_with_theme
    FROM grid g
    LEFT JOIN wide_themes w
           ON w.dim = g.dim AND w.value = g.value AND w.theme_order = g.theme_order
)
SELECT n.dimension,
       a.value,
       a.theme,
       a.cases,
       a.cases_with_theme,
       CAST(a.cases_with_theme AS DOUBLE) / a.cases AS proportion
FROM all_levels a
JOIN (VALUES (1, 'closing_year'), (2, 'organisation_type'), (3, 'region'),
             (4, 'modality'), (5, 'harm'), (6, 'source'), (7, 'service'),
             (8, 'stage')) AS n(dim, dimension)
  ON n.dim = a.dim
ORDER BY n.dimension, a.value, a.theme_order
