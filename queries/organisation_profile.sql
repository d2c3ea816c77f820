-- organisation_profile: per organisation, its cases and its cases with each theme
-- (the input of funnel plots).
--
-- Numerator:   the organisation's cases with the theme.
-- Denominator: the organisation's cases in scope.
-- Shared views: themes, case_themes (queries/shared/).
-- Parameters:  the scope.
-- Ordering: "|| ''" works around DataFusion 55 dropping t.theme_order from this ORDER
-- BY (it takes theme_order to depend on organisation_code across the cross join).
WITH organisations AS (
    SELECT organisation_code,
           MAX(organisation_name) AS organisation_name,
           MAX(region) AS region,
           COUNT(*) AS cases
    FROM cases
    GROUP BY organisation_code
)
SELECT o.organisation_code,
       o.organisation_name,
       o.region,
       t.theme,
       o.cases,
       COUNT(ct.case_key) AS cases_with_theme
FROM organisations o
CROSS JOIN themes t
JOIN cases k ON k.organisation_code = o.organisation_code
LEFT JOIN case_themes ct ON ct.case_key = k.case_key AND ct.theme = t.theme
GROUP BY o.organisation_code, o.organisation_name, o.region, t.theme, t.theme_order, o.cases
ORDER BY o.organisation_code || '', t.theme_order
