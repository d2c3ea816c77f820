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
WITH case_dims AS (
    SELECT case_key, 'closing_year' AS dimension, CAST(EXTRACT(YEAR FROM closed_date) AS VARCHAR) AS value FROM cases
    UNION ALL
    SELECT case_key, 'organisation_type', CAST(organisation_type AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 'region', region FROM cases
    UNION ALL
    SELECT case_key, 'modality', CAST(modality AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 'harm', CAST(harm AS VARCHAR) FROM cases
    UNION ALL
    SELECT case_key, 'source', CAST(source AS VARCHAR) FROM cases
),
dim_cases AS (
    SELECT dimension, COALESCE(value, '(missing)') AS value, COUNT(*) AS cases
    FROM case_dims
    GROUP BY dimension, COALESCE(value, '(missing)')
),
dim_theme_cases AS (
    -- Cases with each theme per value, from the (case, theme) pairs that exist; the
    -- value x theme grid is filled in below (a grid of every case and theme, joined
    -- to the pairs, took six rows per case and theme).
    SELECT d.dimension, COALESCE(d.value, '(missing)') AS value, ct.theme,
           COUNT(*) AS cases_with_theme
    FROM case_dims d
    JOIN case_themes ct ON ct.case_key = d.case_key
    GROUP BY d.dimension, COALESCE(d.value, '(missing)'), ct.theme
),
case_level AS (
    SELECT dc.dimension, dc.value, t.theme, t.theme_order, dc.cases,
           COALESCE(dtc.cases_with_theme, 0) AS cases_with_theme
    FROM dim_cases dc
    CROSS JOIN themes t
    LEFT JOIN dim_theme_cases dtc
           ON dtc.dimension = dc.dimension AND dtc.value = dc.value AND dtc.theme = t.theme
),
finding_dims AS (
    SELECT f.case_key, 'service' AS dimension, COALESCE(f.service, k.service) AS value, c.theme
    FROM findings f
    JOIN cases k ON k.case_key = f.case_key
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
    UNION ALL
    SELECT f.case_key, 'stage', CAST(f.stage AS VARCHAR), c.theme
    FROM findings f
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
),
finding_cases AS (
    SELECT dimension, COALESCE(value, '(missing)') AS value, COUNT(DISTINCT case_key) AS cases
    FROM finding_dims
    GROUP BY dimension, COALESCE(value, '(missing)')
),
finding_theme_cases AS (
    SELECT dimension, COALESCE(value, '(missing)') AS value, theme,
           COUNT(DISTINCT case_key) AS cases_with_theme
    FROM finding_dims
    GROUP BY dimension, COALESCE(value, '(missing)'), theme
),
finding_level AS (
    SELECT fc.dimension, fc.value, t.theme, t.theme_order, fc.cases,
           COALESCE(ftc.cases_with_theme, 0) AS cases_with_theme
    FROM finding_cases fc
    CROSS JOIN themes t
    LEFT JOIN finding_theme_cases ftc
           ON ftc.dimension = fc.dimension AND ftc.value = fc.value AND ftc.theme = t.theme
),
all_levels AS (
    SELECT * FROM case_level
    UNION ALL
    SELECT * FROM finding_level
)
SELECT dimension,
       value,
       theme,
       cases,
       cases_with_theme,
       CAST(cases_with_theme AS DOUBLE) / cases AS proportion
FROM all_levels
ORDER BY dimension, value, theme_order
