-- learning: learning's counts per leaf of the grid. A case with a learning review is
-- reviewed_measured (its interval from the decision known to the day),
-- reviewed_not_to_the_day (one of the two dates known only to the month or the year)
-- or reviewed_no_decision_date; the reviews are the three together. repeat_failures:
-- cases with a repeated failing (when the study defines them).
-- Shared views: case_cells.
WITH reviews AS (
    SELECT e.case_key,
           MIN(CAST(e.occurred_at AS DATE)) AS reviewed_on,
           bool_and(COALESCE(CAST(e.occurred_at_precision AS VARCHAR), 'day') = 'day') AS review_to_the_day
    FROM events e
    WHERE e.event = 'learning_review'
    GROUP BY e.case_key
),
review_days AS (
    SELECT r.case_key,
           CASE WHEN k.closed_date IS NULL THEN 'reviewed_no_decision_date'
                WHEN r.review_to_the_day
                 AND COALESCE(CAST(k.closed_date_precision AS VARCHAR), 'day') = 'day'
                THEN 'reviewed_measured'
                ELSE 'reviewed_not_to_the_day' END AS measure
    FROM reviews r
    JOIN cases k ON k.case_key = r.case_key
),
per_code AS (
    SELECT case_key, CAST(code AS VARCHAR) AS code, COUNT(*) AS n
    FROM findings
    GROUP BY case_key, CAST(code AS VARCHAR)
),
repeats AS (
    SELECT DISTINCT p.case_key
    FROM per_code p
    CROSS JOIN study s
    WHERE s.has_repeat_rule
      AND (p.code IN (SELECT code FROM repeat_codes)
           OR (s.repeat_when_a_code_recurs AND p.n > 1))
),
flagged AS (
    SELECT case_key, measure FROM review_days
    UNION ALL
    SELECT case_key, 'repeat_failures' FROM repeats
)
SELECT c.leaf_month, c.leaf_year, f.measure, COUNT(*) AS n
FROM flagged f
JOIN case_cells c ON c.case_key = f.case_key
GROUP BY c.leaf_month, c.leaf_year, f.measure
