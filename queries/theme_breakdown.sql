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
-- Shared views: themes, case_themes (queries/shared/).
-- Parameters: the scope.
-- Dimensions are numbered, and themes named by their theme_order, until the end: the
-- grouped passes (a row per case and dimension, a row per finding and dimension) then
-- group on integers rather than on copies of the names. The names are joined on last.
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
dim_cases AS (
    SELECT dim, COALESCE(value, '(missing)') AS value, COUNT(*) AS cases
    FROM case_dims
    GROUP BY dim, COALESCE(value, '(missing)')
),
dim_theme_cases AS (
    -- Cases with each theme per value, from the (case, theme) pairs that exist; the
    -- value x theme grid is filled in below (a grid of every case and theme, joined
    -- to the pairs, took six rows per case and theme).
    SELECT d.dim, COALESCE(d.value, '(missing)') AS value, ct.theme_order,
           COUNT(*) AS cases_with_theme
    FROM case_dims d
    JOIN case_themes ct ON ct.case_key = d.case_key
    GROUP BY d.dim, COALESCE(d.value, '(missing)'), ct.theme_order
),
case_level AS (
    SELECT dc.dim, dc.value, t.theme, t.theme_order, dc.cases,
           COALESCE(dtc.cases_with_theme, 0) AS cases_with_theme
    FROM dim_cases dc
    CROSS JOIN themes t
    LEFT JOIN dim_theme_cases dtc
           ON dtc.dim = dc.dim AND dtc.value = dc.value AND dtc.theme_order = t.theme_order
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
finding_cases AS (
    SELECT dim, value, COUNT(DISTINCT case_key) AS cases
    FROM finding_dims
    GROUP BY dim, value
),
finding_theme_cases AS (
    SELECT dim, value, theme_order, COUNT(DISTINCT case_key) AS cases_with_theme
    FROM finding_dims
    GROUP BY dim, value, theme_order
),
finding_level AS (
    SELECT fc.dim, fc.value, t.theme, t.theme_order, fc.cases,
           COALESCE(ftc.cases_with_theme, 0) AS cases_with_theme
    FROM finding_cases fc
    CROSS JOIN themes t
    LEFT JOIN finding_theme_cases ftc
           ON ftc.dim = fc.dim AND ftc.value = fc.value AND ftc.theme_order = t.theme_order
),
all_levels AS (
    SELECT * FROM case_level
    UNION ALL
    SELECT * FROM finding_level
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
