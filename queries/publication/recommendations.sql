-- recommendations: per leaf of the grid, kind, status and whether overdue (due before
-- the as-of date and not complied), the recommendations: the inner cells of the
-- recommendations measure's counts (every kind and `all`; recommendations, complied,
-- not_complied, pending, overdue).
-- Shared views: case_cells.
SELECT c.leaf_month, c.leaf_year,
       CAST(r.kind AS VARCHAR) AS kind,
       CAST(r.status AS VARCHAR) AS status,
       CASE WHEN r.due_date < p.as_of AND CAST(r.status AS VARCHAR) <> 'complied' THEN 1 ELSE 0 END AS overdue,
       COUNT(*) AS n
FROM recommendations r
JOIN case_cells c ON c.case_key = r.case_key
CROSS JOIN parameters p
GROUP BY c.leaf_month, c.leaf_year, CAST(r.kind AS VARCHAR), CAST(r.status AS VARCHAR),
         CASE WHEN r.due_date < p.as_of AND CAST(r.status AS VARCHAR) <> 'complied' THEN 1 ELSE 0 END
