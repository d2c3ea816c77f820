-- financial_remedies: money the organisations were asked to pay.
--
--   remedies:   recommendations of kind financial_remedy
--   cases:      cases with at least one
--   total_gbp:  their sum; median_gbp: their median (pounds)
-- Parameters: the scope.
SELECT COUNT(*) AS remedies,
       COUNT(DISTINCT case_key) AS cases,
       SUM(amount_gbp) AS total_gbp,
       median(amount_gbp) AS median_gbp
FROM recommendations
WHERE kind = 'financial_remedy'
