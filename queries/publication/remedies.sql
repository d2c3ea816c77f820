-- remedies: financial_remedies per leaf of the grid: remedies, cases with one, their
-- total and the largest single remedy (for the dominance rule; never published).
-- Shared views: case_cells.
SELECT c.leaf_month, c.leaf_year,
       COUNT(*) AS remedies,
       COUNT(DISTINCT r.case_key) AS cases,
       SUM(r.amount_gbp) AS total_gbp,
       MAX(r.amount_gbp) AS largest_gbp
FROM recommendations r
JOIN case_cells c ON c.case_key = r.case_key
WHERE r.kind = 'financial_remedy'
GROUP BY c.leaf_month, c.leaf_year
