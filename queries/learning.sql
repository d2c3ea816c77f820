-- learning: whether lessons were learned.
--
-- Rows (measure, value):
--   cases_in_scope          every case in scope
--   cases_with_learning_review
--                           cases with a learning_review event
--   median_days_decision_to_review, max_days_decision_to_review
--                           days from the decision (closed_date) to the first
--                           learning_review event, over cases with both known to
--                           the day
--   cases_decision_to_review_measured
--                           of them, the cases whose days are measured: the
--                           median's and the maximum's number of cases
--   cases_decision_to_review_not_to_the_day
--                           cases with both, one of them known only to the month or
--                           the year (closed_date_precision, occurred_at_precision):
--                           left out of the days
--   repeat_failures         cases with a repeated failing as the study defines it: a
--                           finding with one of the study's repeat codes (repeat_codes),
--                           or, where the study says so
--                           (study.repeat_when_a_code_recurs), the same code recorded in
--                           two or more findings of the case (bundle v1 findings carry
--                           no episode, so repetition across episodes can only be seen
--                           through codes). A study with neither gives no such row.
-- Parameters: the scope; the study.
WITH reviews AS (
    SELECT e.case_key,
           MIN(CAST(e.occurred_at AS DATE)) AS reviewed_on,
           bool_and(COALESCE(CAST(e.occurred_at_precision AS VARCHAR), 'day') = 'day') AS review_to_the_day
    FROM events e
    WHERE e.event = 'learning_review'
    GROUP BY e.case_key
),
review_days AS (
    -- A warehouse written before the precision columns existed holds days only.
    SELECT CASE WHEN r.review_to_the_day
                 AND COALESCE(CAST(k.closed_date_precision AS VARCHAR), 'day') = 'day'
                THEN CAST(r.reviewed_on - k.closed_date AS DOUBLE) END AS days
    FROM reviews r
    JOIN cases k ON k.case_key = r.case_key
    WHERE k.closed_date IS NOT NULL
),
per_code AS (
    -- Findings per case and code (one grouped pass; a COUNT(DISTINCT) per case held a
    -- set per case in memory).
    SELECT case_key, CAST(code AS VARCHAR) AS code, COUNT(*) AS n
    FROM findings
    GROUP BY case_key, CAST(code AS VARCHAR)
),
repeats AS (
    SELECT DISTINCT p.case_key
    FROM per_code p
    CROSS JOIN study s
    WHERE p.code IN (SELECT code FROM repeat_codes)
       OR (s.repeat_when_a_code_recurs AND p.n > 1)
),
-- Each input is read once: one row of totals, then one output row per measure (a
-- scalar subquery per measure read the reviews twice, and Ballista 55 never finishes a
-- plan that shuffles the same empty input twice).
totals AS (
    SELECT c.n AS cases_in_scope,
           r.n AS cases_with_learning_review,
           d.median_days,
           d.max_days,
           d.measured,
           d.not_to_the_day,
           p.n AS repeat_failures
    FROM (SELECT COUNT(*) AS n FROM cases) c
    CROSS JOIN (SELECT COUNT(*) AS n FROM reviews) r
    CROSS JOIN (SELECT median(days) AS median_days, MAX(days) AS max_days,
                       COUNT(days) AS measured,
                       SUM(CASE WHEN days IS NULL THEN 1 ELSE 0 END) AS not_to_the_day
                FROM review_days) d
    CROSS JOIN (SELECT COUNT(*) AS n FROM repeats) p
)
SELECT m.measure,
       CASE m.position
           WHEN 1 THEN CAST(t.cases_in_scope AS DOUBLE)
           WHEN 2 THEN CAST(t.cases_with_learning_review AS DOUBLE)
           WHEN 3 THEN t.median_days
           WHEN 4 THEN t.max_days
           WHEN 5 THEN CAST(COALESCE(t.measured, 0) AS DOUBLE)
           WHEN 6 THEN CAST(COALESCE(t.not_to_the_day, 0) AS DOUBLE)
           ELSE CAST(t.repeat_failures AS DOUBLE)
       END AS value
FROM totals t
CROSS JOIN study s
CROSS JOIN (VALUES
    (1, 'cases_in_scope'),
    (2, 'cases_with_learning_review'),
    (3, 'median_days_decision_to_review'),
    (4, 'max_days_decision_to_review'),
    (5, 'cases_decision_to_review_measured'),
    (6, 'cases_decision_to_review_not_to_the_day'),
    (7, 'repeat_failures')
) AS m(position, measure)
WHERE m.position < 7 OR s.has_repeat_rule
ORDER BY m.position
