-- theme_prevalence: how many cases in scope have each theme.
--
-- Numerator:   cases with at least one finding whose code maps to the theme
--              (through the code list in force, table `codes`).
-- Denominator: every case in scope, with or without findings.
-- Shared views: themes, case_themes (queries/shared/).
-- Parameters:  the scope (--from/--to on --date-field, --organisation, --region,
--              --source, --decision), applied to `cases` and their rows before this runs.
-- casework adds the proportion, the Wilson 95% and 99.8% intervals and the
-- plain-English phrase to each row.
WITH total AS (
    SELECT COUNT(*) AS cases FROM cases
)
SELECT t.theme,
       total.cases,
       COUNT(ct.case_key) AS cases_with_theme
FROM themes t
CROSS JOIN total
LEFT JOIN case_themes ct ON ct.theme = t.theme
GROUP BY t.theme, t.theme_order, total.cases
ORDER BY t.theme_order
