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
-- Shared views: themes, case_themes (queries/shared/).
-- Parameters: the scope; `parameters.date_field`.
-- Portability: date_trunc('month', d) is DataFusion's, DuckDB's and Spark's.
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
months AS (
    SELECT month, COUNT(*) AS cases
    FROM case_months
    WHERE month IS NOT NULL
    GROUP BY month
),
theme_months AS (
    -- Cases with each theme per month, from the (case, theme) pairs that exist; the
    -- month x theme grid is filled in below.
    SELECT cm.month, ct.theme, COUNT(*) AS cases_with_theme
    FROM case_themes ct
    JOIN case_months cm ON cm.case_key = ct.case_key
    WHERE cm.month IS NOT NULL
    GROUP BY cm.month, ct.theme
)
SELECT m.month,
       t.theme,
       m.cases,
       COALESCE(tm.cases_with_theme, 0) AS cases_with_theme
FROM months m
CROSS JOIN themes t
LEFT JOIN theme_months tm ON tm.month = m.month AND tm.theme = t.theme
ORDER BY CAST(m.month AS VARCHAR) || '', t.theme_order
