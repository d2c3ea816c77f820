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
-- Method: each case's set of themes is a bit mask (theme n of the code list is bit
-- n - 1), so cases are grouped by a number, not by a string built per case; the few
-- distinct masks are then named. A code list may hold up to 62 themes.
-- Portability: string_agg(... ORDER BY ...) is DataFusion's and DuckDB's; Spark SQL
-- writes concat_ws(' + ', array_sort(collect_list(theme))) instead; `&` on integers
-- is DataFusion's and DuckDB's (Spark: the same operator).
WITH per_case AS (
    SELECT k.case_key,
           COUNT(ct.theme) AS themes,
           COALESCE(SUM(CAST(power(2, ct.theme_order - 1) AS BIGINT)), 0) AS mask
    FROM cases k
    LEFT JOIN case_themes ct ON ct.case_key = k.case_key
    GROUP BY k.case_key
),
combinations AS (
    SELECT mask, themes, COUNT(*) AS cases
    FROM per_case
    GROUP BY mask, themes
),
named AS (
    SELECT c.mask,
           c.themes,
           c.cases,
           CASE WHEN c.themes = 0 THEN 'none'
                ELSE string_agg(t.theme, ' + ' ORDER BY t.theme_order) END AS combination
    FROM combinations c
    LEFT JOIN themes t
      ON (c.mask & CAST(power(2, t.theme_order - 1) AS BIGINT)) <> 0
    GROUP BY c.mask, c.themes, c.cases
)
SELECT combination,
       themes,
       cases
FROM named
ORDER BY themes DESC, cases DESC, combination
