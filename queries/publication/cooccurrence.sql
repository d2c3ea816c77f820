-- cooccurrence: cases per leaf of the grid and combination of themes, named as
-- theme_cooccurrence names them ('none' for a case with no theme).
-- Shared views: case_cells, case_themes, themes.
WITH per_case AS (
    SELECT k.case_key,
           COUNT(ct.theme) AS themes,
           COALESCE(string_agg(ct.theme, ' + ' ORDER BY ct.theme_order), '') AS names
    FROM cases k
    LEFT JOIN case_themes ct ON ct.case_key = k.case_key
    GROUP BY k.case_key
)
SELECT c.leaf_month, c.leaf_year,
       CASE WHEN p.themes = 0 THEN 'none' ELSE p.names END AS combination,
       COUNT(*) AS n
FROM per_case p
JOIN case_cells c ON c.case_key = p.case_key
GROUP BY c.leaf_month, c.leaf_year, CASE WHEN p.themes = 0 THEN 'none' ELSE p.names END
