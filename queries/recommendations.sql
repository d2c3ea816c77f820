-- recommendations: remedies asked for, by kind, and whether they were complied with.
--
-- Per kind, and for all kinds together (kind = 'all'):
--   recommendations: how many were made (the denominator)
--   complied, not_complied, pending: by status
--   compliance_rate: complied / recommendations
--   overdue: past their due date on the as-of date (--as-of, default today) and not
--            complied with; a recommendation without a due date is never overdue
-- Parameters: the scope; `parameters.as_of`.
WITH r AS (
    SELECT CAST(kind AS VARCHAR) AS kind,
           CAST(status AS VARCHAR) AS status,
           CASE WHEN due_date < p.as_of AND CAST(status AS VARCHAR) <> 'complied' THEN 1 ELSE 0 END AS overdue
    FROM recommendations
    CROSS JOIN parameters p
),
both_levels AS (
    SELECT kind, status, overdue FROM r
    UNION ALL
    SELECT 'all', status, overdue FROM r
)
SELECT kind,
       COUNT(*) AS recommendations,
       SUM(CASE WHEN status = 'complied' THEN 1 ELSE 0 END) AS complied,
       SUM(CASE WHEN status = 'not_complied' THEN 1 ELSE 0 END) AS not_complied,
       SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
       CAST(SUM(CASE WHEN status = 'complied' THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS compliance_rate,
       SUM(overdue) AS overdue
FROM both_levels
GROUP BY kind
ORDER BY CASE WHEN kind = 'all' THEN 1 ELSE 0 END, kind
