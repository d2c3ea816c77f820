-- breakdown: theme_breakdown's cells per leaf of the grid: per dimension and value,
-- cases (theme_order 0) and cases with each theme. Case dimensions (closing_year,
-- organisation_type, region, modality, harm, source) place a case at one value each;
-- finding dimensions (service, stage) at every value of its findings, with the themes of
-- the findings placed there, as theme_breakdown.sql does.
-- Shared views: case_cells, case_themes.
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
finding_dims AS (
    SELECT DISTINCT f.case_key, 'service' AS dimension,
           COALESCE(f.service, k.service, '(missing)') AS value, c.theme_order
    FROM findings f
    JOIN cases k ON k.case_key = f.case_key
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
    UNION ALL
    SELECT DISTINCT f.case_key, 'stage', COALESCE(CAST(f.stage AS VARCHAR), '(missing)'),
           c.theme_order
    FROM findings f
    JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
),
placed AS (
    -- (case, dimension, value, theme_order): 0 for the case itself.
    SELECT case_key, dimension, COALESCE(value, '(missing)') AS value, 0 AS theme_order
    FROM case_dims
    UNION ALL
    SELECT d.case_key, d.dimension, COALESCE(d.value, '(missing)'), t.theme_order
    FROM case_dims d
    JOIN case_themes t ON t.case_key = d.case_key
    UNION ALL
    SELECT DISTINCT case_key, dimension, value, 0 FROM finding_dims
    UNION ALL
    SELECT case_key, dimension, value, theme_order FROM finding_dims
)
SELECT c.leaf_month, c.leaf_year, p.dimension, p.value, p.theme_order, COUNT(*) AS n
FROM placed p
JOIN case_cells c ON c.case_key = p.case_key
GROUP BY c.leaf_month, c.leaf_year, p.dimension, p.value, p.theme_order
