-- cube: cases per leaf of the publication's grid and grouping, in all (theme_order 0)
-- and with each theme (its theme_order), the inner cells of the publication's main
-- tables (theme_prevalence, organisation_profile, monthly_series and the funnels and
-- SPC charts built on them).
-- Shared views: case_cells (queries/publication/), case_themes.
SELECT leaf_month, leaf_year, organisation_code, region, source, decision,
       0 AS theme_order, COUNT(*) AS n
FROM case_cells
GROUP BY leaf_month, leaf_year, organisation_code, region, source, decision
UNION ALL
SELECT c.leaf_month, c.leaf_year, c.organisation_code, c.region, c.source, c.decision,
       t.theme_order, COUNT(*) AS n
FROM case_cells c
JOIN case_themes t ON t.case_key = c.case_key
GROUP BY c.leaf_month, c.leaf_year, c.organisation_code, c.region, c.source, c.decision,
         t.theme_order
