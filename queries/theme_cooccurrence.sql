-- theme_cooccurrence: cases per combination of themes.
--
-- Each case in scope counts once, under the exact set of themes its findings map to:
-- `combination` lists them in code-list order joined by " + " ("none" for a case with
-- no coded finding) and `themes` says how many it holds. casework adds a row for all
-- themes together when no case has them all (cases = 0).
-- Numerator:   cases with exactly that combination.
-- Denominator: every case in scope (the sum of `cases`).
-- Shared views: case_themes (queries/shared/).
-- Parameters:  the scope.
-- Portability: string_agg(... ORDER BY ...) is DataFusion's and DuckDB's; Spark SQL
-- writes concat_ws(' + ', array_sort(collect_list(theme))) instead.
WITH per_case AS (
    SELECT k.case_id,
           COUNT(ct.theme) AS themes,
           CASE WHEN COUNT(ct.theme) = 0 THEN 'none'
                ELSE string_agg(ct.theme, ' + ' ORDER BY ct.theme_order) END AS combination
    FROM cases k
    LEFT JOIN case_themes ct ON ct.case_id = k.case_id
    GROUP BY k.case_id
)
SELECT combination,
       themes,
       COUNT(*) AS cases
FROM per_case
GROUP BY combination, themes
ORDER BY themes DESC, cases DESC, combination
