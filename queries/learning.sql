-- learning: whether lessons were learned.
--
-- Rows (measure, value):
--   cases_in_scope          every case in scope
--   cases_with_learning_review
--                           cases with a learning_review event
--   median_days_decision_to_review, max_days_decision_to_review
--                           days from the decision (closed_date) to the first
--                           learning_review event, over cases with both
--   repeat_failures         cases with a repeated failure: a finding coded LL4 (the
--                           same failure repeated for the same patient), or the same
--                           code recorded in two or more findings of the case
--                           (bundle v1 findings carry no episode, so repetition across
--                           episodes can only be seen through codes)
-- Parameters: the scope.
WITH reviews AS (
    SELECT e.case_id,
           MIN(CAST(e.occurred_at AS DATE)) AS reviewed_on
    FROM events e
    WHERE CAST(e.event AS VARCHAR) = 'learning_review'
    GROUP BY e.case_id
),
review_days AS (
    SELECT CAST(r.reviewed_on - k.closed_date AS DOUBLE) AS days
    FROM reviews r
    JOIN cases k ON k.case_id = r.case_id
    WHERE k.closed_date IS NOT NULL
),
per_code AS (
    -- Findings per case and code (one grouped pass; a COUNT(DISTINCT) per case held a
    -- set per case in memory).
    SELECT case_id, CAST(code AS VARCHAR) AS code, COUNT(*) AS n
    FROM findings
    GROUP BY case_id, CAST(code AS VARCHAR)
),
repeats AS (
    SELECT DISTINCT case_id
    FROM per_code
    WHERE code = 'LL4' OR n > 1
)
SELECT measure, value
FROM (
SELECT 1 AS position, 'cases_in_scope' AS measure, CAST((SELECT COUNT(*) FROM cases) AS DOUBLE) AS value
UNION ALL
SELECT 2 AS position, 'cases_with_learning_review', CAST((SELECT COUNT(*) FROM reviews) AS DOUBLE)
UNION ALL
SELECT 3 AS position, 'median_days_decision_to_review', (SELECT median(days) FROM review_days)
UNION ALL
SELECT 4 AS position, 'max_days_decision_to_review', (SELECT MAX(days) FROM review_days)
UNION ALL
SELECT 5 AS position, 'repeat_failures', CAST((SELECT COUNT(*) FROM repeats) AS DOUBLE)
) numbered
ORDER BY position
