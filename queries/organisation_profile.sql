-- organisation_profile: per organisation, its cases and its cases with each theme
-- (the input of funnel plots).
--
-- Numerator:   the organisation's cases with the theme.
-- Denominator: the organisation's cases in scope.
-- Shared views: themes, case_themes, case_theme_bits (queries/shared/).
-- Parameters:  the scope.
-- Region: the organisation's cases' region when they all give the same one, else
-- "(several)" (a funnel by region reads theme_breakdown, which places each case by its
-- own value).
-- How: each organisation's cases are counted by their set of themes (the bits of
-- case_theme_bits), a few rows per organisation, and only those rows are crossed with
-- the themes; themes past the 62nd are counted pair by pair (wide_themes, which reads
-- nothing for a shorter code list). Joining every case to every theme made a row per
-- case and theme.
-- Ordering: "|| ''" works around DataFusion 55 dropping t.theme_order from this ORDER
-- BY (it takes theme_order to depend on organisation_code across the cross join).
WITH organisation_bits AS (
    -- Cases per organisation and set of themes (0: no theme).
    SELECT k.organisation_code,
           COALESCE(b.themes, CAST(0 AS BIGINT)) AS themes,
           MAX(k.organisation_name) AS organisation_name,
           MIN(k.region) AS region_low,
           MAX(k.region) AS region_high,
           COUNT(*) AS cases
    FROM cases k
    LEFT JOIN case_theme_bits b ON b.case_key = k.case_key
    GROUP BY k.organisation_code, COALESCE(b.themes, CAST(0 AS BIGINT))
),
grid AS (
    SELECT o.organisation_code,
           MAX(o.organisation_name) AS organisation_name,
           -- The organisation's region when all its cases give one; cases that give
           -- several are counted in their own regions by theme_breakdown.
           CASE WHEN MIN(o.region_low) = MAX(o.region_high) THEN MAX(o.region_high)
                WHEN MAX(o.region_high) IS NOT NULL THEN '(several)' END AS region,
           t.theme,
           t.theme_order,
           SUM(o.cases) AS cases,
           SUM(CASE WHEN t.theme_order <= 62
                     AND (o.themes & (CAST(1 AS BIGINT) << (t.theme_order - 1))) <> 0
                    THEN o.cases ELSE 0 END) AS cases_with_theme
    FROM organisation_bits o
    CROSS JOIN themes t
    GROUP BY o.organisation_code, t.theme, t.theme_order
),
wide_themes AS (
    -- Themes past the 62nd: cases per organisation and theme, pair by pair.
    SELECT k.organisation_code, ct.theme_order, COUNT(*) AS cases_with_theme
    FROM case_themes ct
    JOIN cases k ON k.case_key = ct.case_key
    WHERE ct.theme_order > 62
    GROUP BY k.organisation_code, ct.theme_order
)
SELECT g.organisation_code,
       g.organisation_name,
       g.region,
       g.theme,
       g.cases,
       g.cases_with_theme + COALESCE(w.cases_with_theme, 0) AS cases_with_theme
FROM grid g
LEFT JOIN wide_themes w
       ON w.organisation_code = g.organisation_code AND w.theme_order = g.theme_order
ORDER BY g.organisation_code || '', g.theme_order
