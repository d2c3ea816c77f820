-- monthly_series: per month, cases and cases with each theme (the input of SPC charts).
--
-- A case's month is the month of the date chosen by --date-field (opened_date by
-- default; with closed_date, open cases have no month and are left out). A date known
-- only to the year (`<date>_precision` = 'year') has no month either and is left out;
-- the ingest summary says how many dates are so (a date known to the month keeps it).
-- Numerator:   cases in the month with the theme.
-- Denominator: cases in the month.
-- Months with no cases do not appear here; `casework measure monthly_series` fills
-- them in with zeros between the first and last month.
-- Shared views: themes, case_themes, case_theme_bits (queries/shared/).
-- Parameters: the scope; `parameters.date_field`.
-- Portability: date_trunc('month', d) is DataFusion's, DuckDB's and Spark's.
-- How: each month's cases are counted by their set of themes (the bits of
-- case_theme_bits, one row per case), a few rows per month, and only those rows are
-- crossed with the themes; themes past the 62nd are counted pair by pair (wide_themes,
-- which reads nothing for a shorter code list), as organisation_profile does. Joining
-- the (case, theme) pairs to the cases' months held every case's key in memory: more
-- than the default 1 GiB pool at ten million cases.
-- Ordering: the month is sorted as text (ISO dates, "|| ''") because DataFusion 55 otherwise
-- drops t.theme_order from this ORDER BY.
WITH case_months AS (
    SELECT k.case_key,
           CAST(date_trunc('month', CASE WHEN p.date_field = 'closed_date'
                                         THEN CASE WHEN COALESCE(CAST(k.closed_date_precision AS VARCHAR), 'day') <> 'year'
                                                   THEN k.closed_date END
                                         ELSE CASE WHEN COALESCE(CAST(k.opened_date_precision AS VARCHAR), 'day') <> 'year'
                                                   THEN k.opened_date END
                                    END) AS DATE) AS month
    FROM cases k
    CROSS JOIN parameters p
),
month_bits AS (
    -- Cases per month and set of themes (0: no theme).
    SELECT cm.month,
           COALESCE(b.themes, CAST(0 AS BIGINT)) AS themes,
           COUNT(*) AS cases
    FROM case_months cm
    LEFT JOIN case_theme_bits b ON b.case_key = cm.case_key
    WHERE cm.month IS NOT NULL
    GROUP BY cm.month, COALESCE(b.themes, CAST(0 AS BIGINT))
),
grid AS (
    SELECT m.month,
           t.theme,
           t.theme_order,
           SUM(m.cases) AS cases,
           SUM(CASE WHEN t.theme_order <= 62
                     AND (m.themes & (CAST(1 AS BIGINT) << (t.theme_order - 1))) <> 0
                    THEN m.cases ELSE 0 END) AS cases_with_theme
    FROM month_bits m
    CROSS JOIN themes t
    GROUP BY m.month, t.theme, t.theme_order
),
wide_themes AS (
    -- Themes past the 62nd: cases per month and theme, pair by pair.
    SELECT cm.month, ct.theme_order, COUNT(*) AS cases_with_theme
    FROM case_themes ct
    JOIN case_months cm ON cm.case_key = ct.case_key
    WHERE ct.theme_order > 62 AND cm.month IS NOT NULL
    GROUP BY cm.month, ct.theme_order
)
SELECT g.month,
       g.theme,
       g.cases,
       g.cases_with_theme + COALESCE(w.cases_with_theme, 0) AS cases_with_theme
FROM grid g
LEFT JOIN wide_themes w ON w.month = g.month AND w.theme_order = g.theme_order
ORDER BY CAST(g.month AS VARCHAR) || '', g.theme_order
