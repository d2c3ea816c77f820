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
-- distinct masks are then named. Themes past the 62nd (a long code list) do not fit
-- the mask: each case holding one gets their names joined on (wide_sets), a pass that
-- reads nothing when the code list has 62 themes or fewer. They follow the mask's
-- themes in code-list order, so the names are appended.
-- A case's themes are its distinct (case, theme_order) pairs, integers: the shared view
-- case_themes carries each theme's name too, and making its pairs distinct on that text
-- took a third of the measure's time (0.46 s against 0.27 s at a million cases).
-- Portability: string_agg(... ORDER BY ...) is DataFusion's and DuckDB's; Spark SQL
-- writes concat_ws(' + ', array_sort(collect_list(theme))) instead; `&` on integers
-- is DataFusion's and DuckDB's (Spark: the same operator).
WITH per_case AS (
    SELECT k.case_key,
           COUNT(ct.theme_order) AS themes,
           COALESCE(BIT_OR(CASE WHEN ct.theme_order <= 62
                                THEN CAST(1 AS BIGINT) << (ct.theme_order - 1) END),
                    CAST(0 AS BIGINT)) AS mask
    FROM cases k
    LEFT JOIN (SELECT DISTINCT f.case_key, c.theme_order
               FROM findings f
               JOIN codes c ON c.code = CAST(f.code AS VARCHAR)) ct
      ON ct.case_key = k.case_key
    GROUP BY k.case_key
),
wide_sets AS (
    SELECT case_key, string_agg(theme, ' + ' ORDER BY theme_order) AS wide_names
    FROM (
        SELECT DISTINCT f.case_key, c.theme, c.theme_order
        FROM findings f
        JOIN codes c ON c.code = CAST(f.code AS VARCHAR)
        WHERE c.theme_order > 62
    ) wide_pairs
    GROUP BY case_key
    -- One row of no case (case_key null: the join below matches nothing on it), so that
    -- this input is never empty: with no theme past the 62nd it would be, and Ballista 55
    -- never finishes a plan that shuffles it beside the cases read again (the example,
    -- tests/it/ballista.rs).
    UNION ALL
    SELECT NULL AS case_key, NULL AS wide_names
),
combinations AS (
    SELECT p.mask, p.themes, w.wide_names, COUNT(*) AS cases
    FROM per_case p
    LEFT JOIN wide_sets w ON w.case_key = p.case_key
    GROUP BY p.mask, p.themes, w.wide_names
),
named AS (
    SELECT c.themes,
           c.cases,
           c.wide_names,
           string_agg(t.theme, ' + ' ORDER BY t.theme_order) AS mask_names
    FROM combinations c
    LEFT JOIN themes t
      ON t.theme_order <= 62
     AND (c.mask & (CAST(1 AS BIGINT) << (t.theme_order - 1))) <> 0
    GROUP BY c.mask, c.themes, c.cases, c.wide_names
)
SELECT CASE WHEN themes = 0 THEN 'none'
            WHEN wide_names IS NULL THEN mask_names
            WHEN mask_names IS NULL THEN wide_names
            ELSE mask_names || ' + ' || wide_names END AS combination,
       themes,
       cases
FROM named
ORDER BY themes DESC, cases DESC, combination
